"""Envelope encryption of integration credentials.

Each organization has its own data key (a Fernet key). The data key is stored only wrapped by
the master keys of `INTEGRATIONS_MASTER_KEYS` (Fernet keys, newest first): `MultiFernet`
unwraps with any of them and wraps with the first, so a new master key is put in front, the
old one kept behind it until `manage.py integrations_rotate_keys` has re-wrapped every data key,
and only then removed. Credentials themselves never need re-encrypting during a rotation.
"""

import base64
import hashlib
import json
import logging

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction

from audit.services import event_record
from core import clock
from core.actor import Actor
from integrations.models import OrgDataKey

logger = logging.getLogger(__name__)


class VaultError(Exception):
    """A ciphertext no configured master key (or data key) can open."""


def _development_master_key() -> bytes:
    # Without configured keys (development, tests) a key is derived from SECRET_KEY, so `make run`
    # works; production settings refuse to start without INTEGRATIONS_MASTER_KEYS.
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"integrations-vault", info=b"master").derive(settings.SECRET_KEY.encode())
    return base64.urlsafe_b64encode(derived)


def master_keys() -> list[bytes]:
    """The configured master keys, newest first (a derived development key when none are set)."""
    configured = [key.strip().encode() for key in settings.INTEGRATIONS_MASTER_KEYS if key.strip()]
    return configured or [_development_master_key()]


def key_id(key: bytes) -> str:
    """A short public fingerprint of a master key (never the key itself)."""
    return hashlib.sha256(b"integrations-master-key:" + key).hexdigest()[:16]


def current_key_id() -> str:
    """Fingerprint of the master key new data keys are wrapped with."""
    return key_id(master_keys()[0])


def _master() -> MultiFernet:
    try:
        return MultiFernet([Fernet(key) for key in master_keys()])
    except ValueError as error:
        raise ImproperlyConfigured("INTEGRATIONS_MASTER_KEYS must hold Fernet keys (32 url-safe base64-encoded bytes each).") from error


def _data_key_create(organization) -> OrgDataKey:
    wrapped = _master().encrypt(Fernet.generate_key()).decode()
    try:
        with transaction.atomic():
            return OrgDataKey.objects.create(organization=organization, wrapped_key=wrapped, master_key_id=current_key_id())
    except IntegrityError:  # another request created it first: use theirs
        return OrgDataKey.objects.get(organization=organization)


def _data_key_row(organization) -> OrgDataKey | None:
    try:
        # No query when the caller loaded it with select_related("integrations_data_key").
        return organization.integrations_data_key
    except OrgDataKey.DoesNotExist:
        return None


def _data_key(organization, *, create: bool) -> Fernet:
    row = _data_key_row(organization)
    if row is None:
        if not create:
            raise VaultError("The organization has no data key.")
        row = organization.integrations_data_key = _data_key_create(organization)
    # Unwrapped once per loaded row: a refresh opens and re-seals with the same key.
    fernet = getattr(row, "_unwrapped", None)
    if fernet is None:
        try:
            fernet = row._unwrapped = Fernet(_master().decrypt(row.wrapped_key.encode()))
        except InvalidToken:
            raise VaultError("No configured master key opens this organization's data key.") from None
    return fernet


def seal(*, organization, payload: dict) -> str:
    """Encrypt a credentials dict under the organization's data key."""
    plaintext = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
    return _data_key(organization, create=True).encrypt(plaintext).decode()


def unseal(*, organization, token: str) -> dict:
    """Decrypt credentials sealed by `seal` for the same organization."""
    if not token:
        raise VaultError("No credentials are stored.")
    try:
        return json.loads(_data_key(organization, create=False).decrypt(token.encode()))
    except InvalidToken:
        raise VaultError("The credentials cannot be decrypted with this organization's data key.") from None


def data_key_rewrap(*, organization_id) -> bool:
    """Re-wrap one org's data key under the newest master key; False when it already was."""
    master = _master()
    current = current_key_id()
    with transaction.atomic():
        # Row lock: a rotation running twice at once re-wraps each key once.
        row = OrgDataKey.objects.select_for_update().filter(organization_id=organization_id).first()
        if row is None or row.master_key_id == current:
            return False
        try:
            # rotate(): decrypt with whichever key opens it, encrypt with the first (newest).
            row.wrapped_key = master.rotate(row.wrapped_key.encode()).decode()
        except InvalidToken:
            raise VaultError(f"No configured master key opens the data key of organization {organization_id}.") from None
        previous = row.master_key_id
        row.master_key_id = current
        row.rotated_at = clock.now()
        row.save(update_fields=["wrapped_key", "master_key_id", "rotated_at"])
        event_record(
            action="integration.data_key_rewrapped",
            actor=Actor.system(),
            organization_id=organization_id,
            target=row,
            target_type="org_data_key",
            target_id=str(organization_id),
            metadata={"from_master_key": previous, "to_master_key": current},
        )
    return True
