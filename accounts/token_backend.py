"""simplejwt's TokenBackend, keyed: signs with the current key (its `kid` in the header), verifies by `kid`.

simplejwt builds one backend from settings (`rest_framework_simplejwt.state.token_backend`) and every
Token class reads it from there; `AccountsConfig.ready()` puts this one in its place, so every token
class in the process (ours, simplejwt's own, the bench's plain JWTAuthentication) signs and
verifies the same way.

No algorithm negotiation: the header's `alg` must be the named key's algorithm, and the key is
given to PyJWT with that one algorithm allowed, so an HS256 token "signed" with a public key, an
`alg: none` token or a key used under another algorithm is refused.
"""

from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.utils.translation import gettext_lazy as _
from rest_framework_simplejwt.backends import TokenBackend
from rest_framework_simplejwt.exceptions import TokenBackendError, TokenBackendExpiredToken

from accounts.signing_keys import issuer, keyring


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
            return jwt.decode(
                token,
                key.verifying,
                algorithms=[key.algorithm],
                issuer=self.issuer,
                leeway=self.get_leeway(),
                options={"verify_aud": False, "require": ["exp", "iat", "iss"]},
            )
        except jwt.ExpiredSignatureError as error:
            raise TokenBackendExpiredToken(_("Token is expired")) from error
        except jwt.InvalidTokenError as error:
            raise TokenBackendError(_("Token is invalid")) from error
