"""A software WebAuthn authenticator for tests: real P-256 keys, real CBOR, real signatures (fido2 data classes)."""

import hashlib
import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2.cose import ES256
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import AttestationObject, AttestedCredentialData, AuthenticatorData, CollectedClientData

FLAG = AuthenticatorData.FLAG


@dataclass
class SoftCredential:
    credential_id: bytes
    private_key: ec.EllipticCurvePrivateKey
    user_handle: bytes
    rp_id: str
    counter: int = 0


class SoftAuthenticator:
    """Creates passkeys and signs assertions the way a browser + platform authenticator would."""

    def __init__(self, *, origin: str, backup_eligible: bool = False, backed_up: bool = False, counts: bool = True):
        self.origin = origin
        self.backup_eligible = backup_eligible
        self.backed_up = backed_up
        # Synced passkeys (iCloud Keychain, Google Password Manager) keep their counter at 0.
        self.counts = counts
        self.credentials: list[SoftCredential] = []

    def _flags(self, *extra: FLAG) -> FLAG:
        flags = FLAG.UP | FLAG.UV
        if self.backup_eligible:
            flags |= FLAG.BE
        if self.backed_up:
            flags |= FLAG.BS
        for flag in extra:
            flags |= flag
        return flags

    def create(self, options: dict, *, origin: str | None = None, rp_id: str | None = None, credential_id: bytes | None = None) -> dict:
        """`navigator.credentials.create(options)`, answered as `PublicKeyCredential.toJSON()`.

        `credential_id`: attest a chosen id (a hostile client replaying someone else's id).
        """
        rp_id = rp_id or options["rp"]["id"]
        key = ec.generate_private_key(ec.SECP256R1())
        credential = SoftCredential(
            credential_id=credential_id or os.urandom(32),
            private_key=key,
            user_handle=websafe_decode(options["user"]["id"]),
            rp_id=rp_id,
        )
        attested = AttestedCredentialData.create(b"\0" * 16, credential.credential_id, ES256.from_cryptography_key(key.public_key()))
        auth_data = AuthenticatorData.create(hashlib.sha256(rp_id.encode()).digest(), self._flags(FLAG.AT), 0, attested)
        attestation = AttestationObject.create("none", auth_data, {})
        client_data = CollectedClientData.create(type="webauthn.create", challenge=options["challenge"], origin=origin or self.origin)
        self.credentials.append(credential)
        encoded_id = websafe_encode(credential.credential_id)
        return {
            "id": encoded_id,
            "rawId": encoded_id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "attestationObject": websafe_encode(attestation),
                "transports": ["internal", "hybrid"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def get(
        self,
        options: dict,
        *,
        credential: SoftCredential | None = None,
        origin: str | None = None,
        rp_id: str | None = None,
        counter: int | None = None,
    ) -> dict:
        """`navigator.credentials.get(options)`: sign the challenge with a matching passkey."""
        if credential is None:
            allowed = {websafe_decode(item["id"]) for item in options.get("allowCredentials") or []}
            matching = [c for c in self.credentials if not allowed or c.credential_id in allowed]
            assert matching, "no passkey of this authenticator is allowed by the options"
            credential = matching[0]
        if counter is None:
            if self.counts:
                credential.counter += 1
            counter = credential.counter
        rp_id = rp_id or credential.rp_id
        auth_data = AuthenticatorData.create(hashlib.sha256(rp_id.encode()).digest(), self._flags(), counter)
        client_data = CollectedClientData.create(type="webauthn.get", challenge=options["challenge"], origin=origin or self.origin)
        signature = credential.private_key.sign(bytes(auth_data) + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        encoded_id = websafe_encode(credential.credential_id)
        return {
            "id": encoded_id,
            "rawId": encoded_id,
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "response": {
                "clientDataJSON": websafe_encode(client_data),
                "authenticatorData": websafe_encode(auth_data),
                "signature": websafe_encode(signature),
                "userHandle": websafe_encode(credential.user_handle),
            },
            "clientExtensionResults": {},
        }
