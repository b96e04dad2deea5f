"""Users, their login sessions, one-time tokens and MFA backup codes."""

import hashlib
import hmac
import uuid

from django.conf import settings
from django.contrib.auth.base_user import AbstractBaseUser, BaseUserManager
from django.contrib.auth.models import PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django_otp.models import Device

from core import clock


class UserManager(BaseUserManager):
    """Users are identified by their email, stored lower-cased."""

    use_in_migrations = True

    @classmethod
    def normalize_email(cls, email: str | None) -> str:
        return (email or "").strip().lower()

    def get_by_natural_key(self, username):
        return self.get(email=self.normalize_email(username))

    def create_user(self, email: str, password: str | None = None, **fields):
        user = self.model(email=self.normalize_email(email), **fields)
        if password:
            user.set_password(password)
        else:
            user.set_unusable_password()
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        return self.create_user(email, password, **fields)


class User(AbstractBaseUser, PermissionsMixin):
    """A person who signs in with an email (and a password and/or Google)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    # `full_name` is "first last" whenever the parts are known (accounts.services.user_names_resolve).
    full_name = models.CharField(max_length=150, blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        ordering = ["date_joined"]
        constraints = [models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique")]

    def __str__(self) -> str:
        return self.email

    @property
    def email_verified(self) -> bool:
        return self.email_verified_at is not None

    def get_full_name(self) -> str:
        return self.full_name

    def get_short_name(self) -> str:
        return self.first_name or (self.full_name.split(" ")[0] if self.full_name else self.email)


class UserSessionQuerySet(models.QuerySet):
    def active(self):
        return self.filter(revoked_at__isnull=True, expires_at__gt=clock.now())

    def for_user(self, user):
        return self.filter(user=user)


class UserSession(models.Model):
    """One sign-in: the server-side record behind a refresh token and its access tokens (`sid`)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="sessions")
    created_at = models.DateTimeField(default=clock.now)
    last_used_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=512, blank=True)
    # jti of the only refresh token of this session that may still be used (rotation).
    refresh_jti = models.CharField(max_length=64, blank=True)
    mfa_verified = models.BooleanField(default=False)
    # Active organization (plain UUID: accounts does not depend on organizations).
    organization_id = models.UUIDField(null=True, blank=True)
    impersonator = models.ForeignKey(User, null=True, blank=True, on_delete=models.SET_NULL, related_name="impersonation_sessions")
    impersonation_reason = models.CharField(max_length=500, blank=True)
    auth_method = models.CharField(max_length=20, default="password")
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=40, blank=True)

    objects = UserSessionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "revoked_at"])]

    def __str__(self) -> str:
        return f"session {self.id} of {self.user_id}"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and self.expires_at > clock.now()


class OneTimeToken(models.Model):
    """A single-use, expiring secret sent to a user (email verification, password reset, MFA challenge).

    Only the SHA-256 of the secret is stored: the secret itself is 256 random bits.
    """

    class Purpose(models.TextChoices):
        EMAIL_VERIFY = "email_verify"
        PASSWORD_RESET = "password_reset"
        MFA_CHALLENGE = "mfa_challenge"
        OAUTH_LINK = "oauth_link"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="one_time_tokens")
    purpose = models.CharField(max_length=20, choices=Purpose.choices)
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=clock.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [models.Index(fields=["user", "purpose"]), models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} token for {self.user_id}"


def _backup_code_hash(code: str) -> str:
    # Keyed hash: backup codes carry ~50 bits, so a fast keyed hash (not a bare digest) is enough,
    # and verification stays cheap when the user's 10 codes are compared.
    normalized = code.replace("-", "").replace(" ", "").upper()
    key = hashlib.sha256(("backup-codes:" + settings.SECRET_KEY).encode()).digest()
    return hmac.new(key, normalized.encode(), hashlib.sha256).hexdigest()


class BackupCodeDevice(Device):
    """A django-otp device holding single-use MFA backup codes, stored as keyed hashes."""

    def codes_replace(self, codes: list[str]) -> None:
        """Make `codes` the device's only backup codes (only their hashes are stored)."""
        self.codes.all().delete()
        BackupCode.objects.bulk_create([BackupCode(device=self, code_hash=_backup_code_hash(code)) for code in codes])

    def verify_token(self, token) -> bool:
        """Spend one unused backup code; a conditional UPDATE makes each code single-use under concurrency."""
        return BackupCode.objects.filter(device=self, code_hash=_backup_code_hash(str(token)), used_at__isnull=True).update(used_at=clock.now()) == 1


class BackupCode(models.Model):
    """One backup code (HMAC-SHA256 of the code; the code is shown once)."""

    device = models.ForeignKey(BackupCodeDevice, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=64)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "code_hash"], name="accounts_backupcode_unique")]


class SigningKey(models.Model):
    """A key that signs or verifies the platform's JWTs, published by `kid` at /.well-known/jwks.json.

    One key is `current` (signs); `previous` keys only verify, until `verify_until` (when the last
    token they signed has expired); `retired` keys verify nothing and keep no private half. The
    private key is stored encrypted (accounts/signing_keys.py), never in the clear.
    """

    class State(models.TextChoices):
        CURRENT = "current", "Current (signs and verifies)"
        PREVIOUS = "previous", "Previous (verifies only)"
        RETIRED = "retired", "Retired"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kid = models.CharField(max_length=64, unique=True)
    algorithm = models.CharField(max_length=16)
    state = models.CharField(max_length=16, choices=State.choices, default=State.CURRENT)
    public_key = models.TextField()  # PEM (SubjectPublicKeyInfo)
    private_key_encrypted = models.TextField(blank=True)  # Fernet token of the PKCS#8 PEM; emptied on retirement
    created_at = models.DateTimeField(default=clock.now)
    demoted_at = models.DateTimeField(null=True, blank=True)
    verify_until = models.DateTimeField(null=True, blank=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # At most one signing key: two processes creating the first key at once cannot both win.
            models.UniqueConstraint(fields=["state"], condition=models.Q(state="current"), name="accounts_signingkey_one_current"),
        ]

    def __str__(self) -> str:
        return f"{self.kid} ({self.algorithm}, {self.state})"
