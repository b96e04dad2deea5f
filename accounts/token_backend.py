"""simplejwt's TokenBackend, keyed: signs with the current key (its `kid` in the header), verifies by `kid`.

simplejwt builds one backend from settings (`rest_framework_simplejwt.state.token_backend`) and every
Token class reads it from there; `AccountsConfig.ready()` puts this one in its place, so every token
class in the process (ours, simplejwt's own, the bench's plain JWTAuthentication) signs and
verifies the same way.

No algorithm negotiation: the header's `alg` must be the named key's algorithm, and the key is
given to PyJWT with that one algorithm allowed, so an HS256 token "signed" with a public key, an
`alg: none` token or a key used under another algorithm is refused.

Verified access tokens are remembered per process (`VerifiedTokens`): a client sends the same
access token with every request for its whole lifetime, and checking its EdDSA signature again
each time cost 0.19 ms of CPU per request (issue 17). A remembered token is only accepted again
while the key that verified it is still the one the key ring hands out for its `kid` (a reload,
rotation, retirement or `keyring.forget()` makes new key objects, so every entry made with the
old ones stops counting), the configured issuer is still the one it was checked against, and its
`exp` has not passed and its `iat`/`nbf` are not ahead of the clock (with the same leeway); anything else is verified from scratch. The session
revocation check and the user row are per request as before: they are not part of this.
"""

import threading
from collections import OrderedDict
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken
from rest_framework_simplejwt.settings import api_settings

from accounts.signing_keys import LoadedKey, issuer, keyring

VERIFIED_TOKENS_MAX = 4096


def _json_copy(value):
    """A copy of decoded JSON (dicts, lists, scalars): 3x faster than copy.deepcopy on a token's claims."""
    if isinstance(value, dict):
        return {key: _json_copy(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_json_copy(item) for item in value]
    return value


class VerifiedTokens:
    """Access tokens this process verified: token → (key, issuer, claims), least recently used dropped first."""

    def __init__(self, size: int = VERIFIED_TOKENS_MAX):
        self.size = size
        self._entries: OrderedDict[str, tuple[LoadedKey, str, dict[str, Any]]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, token: str, *, issuer: str, leeway: float) -> dict[str, Any] | None:
        """The token's claims when it was verified with a key that still verifies its `kid`, and has not expired."""
        with self._lock:
            entry = self._entries.get(token)
            if entry is None:
                return None
            self._entries.move_to_end(token)
        key, checked_issuer, claims = entry
        if checked_issuer != issuer or keyring.verifying(key.kid) is not key:
            return None
        # PyJWT's own tests of the times, on the clock it reads: expired once `exp` <= now - leeway,
        # not yet valid while `iat` or `nbf` > now + leeway (a clock set back since).
        now = datetime.now(tz=UTC).timestamp()
        if int(claims["exp"]) <= now - leeway or int(claims["iat"]) > now + leeway or int(claims.get("nbf", now)) > now + leeway:
            return None
        return _json_copy(claims)  # the caller's token is its own, nested values included

    def put(self, token: str, *, key: LoadedKey, issuer: str, claims: dict[str, Any]) -> None:
        with self._lock:
            self._entries[token] = (key, issuer, _json_copy(claims))
            self._entries.move_to_end(token)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_tokens = VerifiedTokens()


class KeyedTokenBackend(TokenBackend):
    """Sign with `keyring.current()`; verify with the key the token's `kid` names, under its algorithm only."""

    def __init__(self):
        jwt_settings = settings.SIMPLE_JWT
        super().__init__(algorithm=jwt_settings["ALGORITHM"], leeway=jwt_settings.get("LEEWAY", 0))

    @property
    def algorithm(self) -> str:
        """The current key's algorithm (keys keep theirs: JWT_ALGORITHM applies to new keys)."""
        return keyring.current().algorithm

    @algorithm.setter
    def algorithm(self, value) -> None:
        pass

    @property
    def issuer(self) -> str:  # read per use: tests and settings changes see the configured one
        return issuer()

    @issuer.setter
    def issuer(self, value) -> None:  # the base class assigns it in __init__; the setting wins
        pass

    @property
    def signing_key(self) -> Any:
        """The secret in HS256 mode; in asymmetric modes the private key never leaves the key ring."""
        key = keyring.current()
        return key.signing if key.algorithm == "HS256" else None

    @signing_key.setter
    def signing_key(self, value) -> None:
        pass

    @property
    def verifying_key(self) -> str:
        """The current public key as PEM (asymmetric modes), for a verifier configured with one key."""
        key = keyring.current()
        if key.algorithm == "HS256":
            return ""
        return key.verifying.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()

    @verifying_key.setter
    def verifying_key(self, value) -> None:
        pass

    def encode(self, payload: dict[str, Any]) -> str:
        key = keyring.current()
        claims = {**payload, "iss": self.issuer}
        return jwt.encode(claims, key.signing, algorithm=key.algorithm, headers={"kid": key.kid}, json_encoder=self.json_encoder)

    def decode(self, token, verify: bool = True) -> dict[str, Any]:
        if not verify:
            return jwt.decode(token, options={"verify_signature": False})
        expected_issuer, leeway = self.issuer, self.get_leeway().total_seconds()
        remembered = verified_tokens.get(token, issuer=expected_issuer, leeway=leeway)
        if remembered is not None:
            return remembered
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError as error:
            raise TokenBackendError(_("Token is invalid")) from error
        kid, alg = header.get("kid"), header.get("alg")
        key = keyring.verifying(kid) if isinstance(kid, str) else None
        # Unknown, retired or expired key, or a token claiming another algorithm than its key's.
        if key is None or alg != key.algorithm:
            raise TokenBackendError(_("Token is invalid"))
        try:
            claims = jwt.decode(
                token,
                key.verifying,
                algorithms=[key.algorithm],
                issuer=expected_issuer,
                leeway=leeway,
                options={"verify_aud": False, "require": ["exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenBackendExpiredToken(_("Token is expired")) from error
        except jwt.InvalidTokenError as error:
            raise TokenBackendError(_("Token is invalid")) from error
        # Access tokens only: a refresh token is spent once, remembering it would only evict others.
        if claims.get(api_settings.TOKEN_TYPE_CLAIM) == "access":
            verified_tokens.put(token, key=key, issuer=expected_issuer, claims=claims)
        return claims
