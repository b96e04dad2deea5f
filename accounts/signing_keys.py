"""The keys that sign the platform's JWTs: made, sealed at rest, rotated, cached per process, published.

Asymmetric by default (`JWT_ALGORITHM`: EdDSA, i.e. Ed25519, or RS256): any service can verify an
access token with the public keys of `/.well-known/jwks.json`, picked by the token's `kid`. Keys
are rows (`SigningKey`): one `current` signs; `previous` ones only verify, until the last token
they signed has expired; `retired` ones verify nothing and keep no private half. The private
half is sealed with Fernet keys derived from `JWT_KEY_ENCRYPTION_KEYS`.

`JWT_ALGORITHM=HS256` keeps the single-service mode: one shared secret (`JWT_SIGNING_KEY`), no
rows, nothing published.

Every process keeps the keys in memory (`keyring`): signing and verifying never query the
database, but a process reloads every `JWT_KEYS_CACHE_SECONDS` and, at most once per
`MISS_RELOAD_SECONDS`, when a token names a `kid` it does not know (another process rotated).
"""

import base64
import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

from accounts.models import SigningKey
from audit.services import event_record
from core import clock
from core.actor import Actor

logger = logging.getLogger(__name__)

ASYMMETRIC_ALGORITHMS = ("EdDSA", "RS256")
ALGORITHMS = (*ASYMMETRIC_ALGORITHMS, "HS256")
RSA_KEY_BITS = 2048
# A token naming an unknown kid reloads the keys at most this often (per process): a rotation made
# elsewhere is seen at once, and a flood of forged kids costs one query per interval, not per request.
MISS_RELOAD_SECONDS = 10.0
# What a token may carry (accounts/tokens.py::token_claims plus simplejwt's and ours: iss).
CLAIMS = ("iss", "sub", "exp", "iat", "jti", "token_type", "email", "sid", "mfa", "org_id", "role", "plan", "features", "permissions", "act", "amr")
# Clock skew allowed to other verifiers: a previous key stays published this much past its last token.
VERIFY_MARGIN = timedelta(minutes=5)


def configured_algorithm() -> str:
    """The algorithm new keys get (`JWT_ALGORITHM`)."""
    algorithm = settings.SIMPLE_JWT["ALGORITHM"]
    if algorithm not in ALGORITHMS:
        raise ImproperlyConfigured(f"JWT_ALGORITHM must be one of {', '.join(ALGORITHMS)}; got {algorithm!r}.")
    return algorithm


def is_shared_secret_mode() -> bool:
    """HS256: one secret signs and verifies; no key rows, nothing to publish."""
    return configured_algorithm() == "HS256"


def issuer() -> str:
    """The `iss` of every token, and the issuer of /.well-known/openid-configuration."""
    return settings.SIMPLE_JWT["ISSUER"]


def token_max_lifetime() -> timedelta:
    """How long the longest-lived token a key signs stays valid (access or refresh)."""
    jwt_settings = settings.SIMPLE_JWT
    return max(jwt_settings["ACCESS_TOKEN_LIFETIME"], jwt_settings["REFRESH_TOKEN_LIFETIME"])


# -- sealing the private halves -----------------------------------------------------------------


def _sealer() -> MultiFernet:
    # Each master secret is stretched into a Fernet key of its own for this one purpose (HKDF with a
    # purpose label), so a master key shared with another use never encrypts two kinds of data.
    masters = [key.strip() for key in settings.JWT_KEY_ENCRYPTION_KEYS if key.strip()] or [settings.SECRET_KEY]
    fernets = []
    for master in masters:
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=b"accounts-signing-keys", info=b"private-key").derive(master.encode())
        fernets.append(Fernet(base64.urlsafe_b64encode(derived)))
    return MultiFernet(fernets)


def seal(private_pem: bytes) -> str:
    """Encrypt a private key for storage (the first encryption key seals; all of them open)."""
    return _sealer().encrypt(private_pem).decode()


def unseal(sealed: str) -> bytes:
    """Open a stored private key; ImproperlyConfigured when no configured key can."""
    try:
        return _sealer().decrypt(sealed.encode())
    except InvalidToken as error:
        raise ImproperlyConfigured("A signing key cannot be decrypted: JWT_KEY_ENCRYPTION_KEYS lost the key it was sealed with.") from error


# -- keys ---------------------------------------------------------------------------------------


def _algorithm_class(algorithm: str):
    return OKPAlgorithm if algorithm == "EdDSA" else RSAAlgorithm


def public_jwk(*, algorithm: str, public_key: Any) -> dict:
    """The RFC 7517 JWK of a public key, without kid/alg/use."""
    return _algorithm_class(algorithm).to_jwk(public_key, as_dict=True)


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (base64url SHA-256 of the required members): the key's `kid`."""
    required = ("crv", "kty", "x") if jwk["kty"] == "OKP" else ("e", "kty", "n")
    canonical = json.dumps({name: jwk[name] for name in required}, separators=(",", ":"), sort_keys=True)
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


def _generate(algorithm: str):
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if algorithm == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_KEY_BITS)
    raise ImproperlyConfigured(f"No key pair for {algorithm!r}: keys are made for {', '.join(ASYMMETRIC_ALGORITHMS)}.")


def _signing_key_create(*, algorithm: str, actor: Actor, reason: str, audit: bool = True) -> SigningKey:
    private = _generate(algorithm)
    public = private.public_key()
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    public_pem = public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    key = SigningKey.objects.create(
        kid=thumbprint(public_jwk(algorithm=algorithm, public_key=public)),
        algorithm=algorithm,
        state=SigningKey.State.CURRENT,
        public_key=public_pem,
        private_key_encrypted=seal(private_pem),
    )
    if audit:
        event_record(action="signing_key.created", actor=actor, target=key, metadata={"kid": key.kid, "algorithm": algorithm, "reason": reason})
    return key


@dataclass(frozen=True, slots=True)
class LoadedKey:
    """A key as verifiers and signers use it: parsed once per load, never re-read per token."""

    kid: str
    algorithm: str
    state: str
    verifying: Any  # public key object (HS256: the secret)
    signing: Any = None  # private key object (HS256: the secret); None for previous keys
    verify_until: datetime | None = None
    jwk: dict | None = None  # published form (asymmetric only)

    def verifies_at(self, now: datetime) -> bool:
        return self.verify_until is None or now < self.verify_until


def _loaded(row: SigningKey) -> LoadedKey:
    public = serialization.load_pem_public_key(row.public_key.encode())
    signing = None
    if row.state == SigningKey.State.CURRENT:
        signing = serialization.load_pem_private_key(unseal(row.private_key_encrypted), password=None)
    jwk = {**public_jwk(algorithm=row.algorithm, public_key=public), "kid": row.kid, "alg": row.algorithm, "use": "sig"}
    return LoadedKey(kid=row.kid, algorithm=row.algorithm, state=row.state, verifying=public, signing=signing, verify_until=row.verify_until, jwk=jwk)


def _shared_secret_key() -> LoadedKey:
    secret = settings.SIMPLE_JWT["SIGNING_KEY"]
    # A public fingerprint of the secret (never the secret): tokens still name their key.
    kid = "hs-" + hashlib.sha256(b"jwt-hs256-kid:" + secret.encode()).hexdigest()[:16]
    return LoadedKey(kid=kid, algorithm="HS256", state=SigningKey.State.CURRENT, verifying=secret, signing=secret)


class KeyRing:
    """This process's copy of the signing keys: the current one and every key still verifying."""

    def __init__(self):
        self._lock = threading.Lock()
        self._keys: dict[str, LoadedKey] = {}
        self._current: LoadedKey | None = None
        self._loaded_at: float | None = None
        self._miss_reload_at = float("-inf")

    def forget(self) -> None:
        """Drop the cached keys; the next use loads them again (after a rotation, a settings change)."""
        with self._lock:
            self._loaded_at = None
            self._miss_reload_at = float("-inf")

    def _fresh(self) -> bool:
        return self._loaded_at is not None and time.monotonic() - self._loaded_at < settings.JWT_KEYS_CACHE_SECONDS

    def _load(self) -> None:
        if is_shared_secret_mode():
            current = _shared_secret_key()
            keys = {current.kid: current}
        else:
            rows = list(SigningKey.objects.exclude(state=SigningKey.State.RETIRED))
            if not any(row.state == SigningKey.State.CURRENT for row in rows):
                # No key yet (post_migrate makes the first one; this covers a database emptied since).
                signing_key_ensure(actor=Actor.system())
                rows = list(SigningKey.objects.exclude(state=SigningKey.State.RETIRED))
            loaded = [_loaded(row) for row in rows]
            keys = {key.kid: key for key in loaded}
            current = next(key for key in loaded if key.state == SigningKey.State.CURRENT)
        self._keys, self._current, self._loaded_at = keys, current, time.monotonic()

    def _ensure(self) -> None:
        if not self._fresh():
            with self._lock:
                if not self._fresh():
                    self._load()

    def current(self) -> LoadedKey:
        """The key that signs now."""
        self._ensure()
        return self._current

    def verifying(self, kid: str) -> LoadedKey | None:
        """The key named `kid` if it may verify now; None for an unknown, retired or expired key."""
        self._ensure()
        key = self._keys.get(kid)
        if key is None:
            with self._lock:
                # An unknown kid: perhaps another process rotated. Look again, but rarely.
                if time.monotonic() - self._miss_reload_at >= MISS_RELOAD_SECONDS:
                    self._miss_reload_at = time.monotonic()
                    self._load()
                key = self._keys.get(kid)
        if key is None or not key.verifies_at(clock.now()):
            return None
        return key

    def published(self) -> list[LoadedKey]:
        """The public keys others may verify with now: current first, then previous ones."""
        self._ensure()
        if is_shared_secret_mode():
            return []
        now = clock.now()
        keys = [key for key in self._keys.values() if key.verifies_at(now)]
        return sorted(keys, key=lambda key: key.state != SigningKey.State.CURRENT)


keyring = KeyRing()


# -- services -----------------------------------------------------------------------------------


def signing_key_ensure(*, actor: Actor, audit: bool = True) -> SigningKey | None:
    """Make the first signing key when there is none (asymmetric modes); return the current key.

    `audit=False` for the key `migrate` makes (accounts/apps.py): part of installing the schema, like
    the seeded rows, not a change anyone made. A key made later because none was left is audited.
    """
    if is_shared_secret_mode():
        return None
    existing = SigningKey.objects.filter(state=SigningKey.State.CURRENT).first()
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            return _signing_key_create(algorithm=configured_algorithm(), actor=actor, reason="first_key", audit=audit)
    except IntegrityError:  # another process made it first (one current key at most): use theirs
        return SigningKey.objects.get(state=SigningKey.State.CURRENT)


@transaction.atomic
def signing_key_rotate(*, actor: Actor, algorithm: str | None = None) -> SigningKey:
    """Put a new current key in front; the old one verifies until every token it signed has expired."""
    algorithm = algorithm or configured_algorithm()
    if algorithm not in ASYMMETRIC_ALGORITHMS:
        raise ImproperlyConfigured(f"Rotation makes {', '.join(ASYMMETRIC_ALGORITHMS)} keys; HS256 rotates by changing JWT_SIGNING_KEY.")
    now = clock.now()
    old = SigningKey.objects.select_for_update().filter(state=SigningKey.State.CURRENT).first()
    if old is not None:
        old.state = SigningKey.State.PREVIOUS
        old.demoted_at = now
        # Tokens it signed up to now live at most this long; refresh tokens included.
        old.verify_until = now + token_max_lifetime() + VERIFY_MARGIN
        old.save(update_fields=["state", "demoted_at", "verify_until"])
    key = _signing_key_create(algorithm=algorithm, actor=actor, reason="rotation")
    event_record(
        action="signing_key.rotated",
        actor=actor,
        target=key,
        metadata={
            "kid": key.kid,
            "algorithm": algorithm,
            "previous_kid": old.kid if old else None,
            "previous_verify_until": old.verify_until.isoformat() if old else None,
        },
    )
    signing_keys_retire(actor=actor)
    _forget_now_and_on_commit()
    return key


@transaction.atomic
def signing_keys_retire(*, actor: Actor, kids: list[str] | None = None) -> list[SigningKey]:
    """Retire previous keys past `verify_until` (or the named previous keys now, e.g. a leaked key)."""
    now = clock.now()
    previous = SigningKey.objects.select_for_update().filter(state=SigningKey.State.PREVIOUS)
    previous = previous.filter(kid__in=kids) if kids is not None else previous.filter(verify_until__lte=now)
    retired = []
    for key in previous:
        key.state = SigningKey.State.RETIRED
        key.retired_at = now
        key.private_key_encrypted = ""  # a retired key never signs again: its private half is gone
        key.save(update_fields=["state", "retired_at", "private_key_encrypted"])
        event_record(action="signing_key.retired", actor=actor, target=key, metadata={"kid": key.kid, "early": kids is not None})
        retired.append(key)
    if retired:
        _forget_now_and_on_commit()
    return retired


def _forget_now_and_on_commit() -> None:
    # Now, for this thread's next token; after commit, for threads that reloaded in between.
    keyring.forget()
    transaction.on_commit(keyring.forget)


# -- publishing ---------------------------------------------------------------------------------


def jwks() -> dict:
    """RFC 7517 JWK Set of the keys that verify now (current first)."""
    return {"keys": [key.jwk for key in keyring.published()]}


def openid_configuration(*, jwks_uri: str) -> dict:
    """The discovery document: only what is true of this issuer (it signs tokens; it is no full OP)."""
    algorithms = sorted({key.algorithm for key in keyring.published()} | {configured_algorithm()})
    return {
        "issuer": issuer(),
        "jwks_uri": jwks_uri,
        # The OAuth2 password form /auth/login accepts (as Swagger's Authorize button uses it).
        "token_endpoint": f"{issuer()}/api/v1/auth/login",
        "grant_types_supported": ["password"],
        "token_endpoint_auth_methods_supported": ["none"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": algorithms,
        "claims_supported": list(CLAIMS),
    }
