"""A SAML 2.0 IdP built with pysaml2 in the test process: it reads our AuthnRequests and signs real assertions.

It signs in process through the `xmlsec` Python binding (libxmlsec1, the library our SP verifies with), not the
xmlsec1 command-line tool: `saml_crypto.CryptoBackendXmlSecBinding` fills in the enveloped RSA-SHA256/SHA-256,
exclusive-c14n signature template pysaml2 puts into the Assertion (or Response), referenced by its `ID`.
"""

import base64
import datetime
import tempfile
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from saml2 import BINDING_HTTP_POST, BINDING_HTTP_REDIRECT
from saml2.config import IdPConfig
from saml2.metadata import create_metadata_string
from saml2.saml import NAME_FORMAT_URI, NAMEID_FORMAT_EMAILADDRESS, NameID
from saml2.server import Server

from sso.tests.saml_crypto import security_context_for

RSA_SHA256 = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
SHA256 = "http://www.w3.org/2001/04/xmlenc#sha256"
RSA_SHA1 = "http://www.w3.org/2000/09/xmldsig#rsa-sha1"
SHA1 = "http://www.w3.org/2000/09/xmldsig#sha1"
PASSWORD_CLASS = "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport"


def self_signed(common_name: str, directory: Path) -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    key_path, cert_path = directory / f"{common_name}.key", directory / f"{common_name}.crt"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return str(key_path), str(cert_path)


class SamlIdP:
    """One IdP (entity id `https://<name>/idp`) with its own signing key."""

    def __init__(self, name: str = "idp.corp.test"):
        self.directory = Path(tempfile.mkdtemp(prefix="saml-idp-"))
        self.key_file, self.cert_file = self_signed(name, self.directory)
        self.entity_id = f"https://{name}/idp"
        self.sso_url = f"https://{name}/sso"
        self.sp_metadata: list[str] = []
        self._server = None

    def _config(self) -> IdPConfig:
        config = IdPConfig()
        config.load(
            {
                "entityid": self.entity_id,
                # Only so that Server() builds without looking for the xmlsec1 binary; `server` replaces its context.
                "crypto_backend": "XMLSecurity",
                "key_file": self.key_file,
                "cert_file": self.cert_file,
                "service": {
                    "idp": {
                        "endpoints": {"single_sign_on_service": [(self.sso_url, BINDING_HTTP_REDIRECT)]},
                        "name_id_format": [NAMEID_FORMAT_EMAILADDRESS],
                        "policy": {"default": {"lifetime": {"minutes": 5}, "attribute_restrictions": None, "name_form": NAME_FORMAT_URI}},
                    }
                },
                "metadata": {"inline": list(self.sp_metadata)},
            }
        )
        return config

    def metadata_xml(self) -> str:
        """The IdP metadata the customer gives us (entity id, HTTP-Redirect SSO URL, signing certificate)."""
        return create_metadata_string(None, config=self._config(), valid=24, sign=False).decode()

    def trust_sp(self, metadata_xml: str) -> None:
        """Load an SP's metadata (ours, from the connection's metadata URL), as the IdP admin would."""
        self.sp_metadata.append(metadata_xml)
        self._server = None

    @property
    def server(self) -> Server:
        if self._server is None:
            server = Server(config=self._config())
            server.sec = security_context_for(server.config)
            self._server = server
        return self._server

    def read_request(self, redirect_url: str):
        """Parse the AuthnRequest our login URL sent (HTTP-Redirect binding)."""
        from urllib.parse import parse_qs, urlsplit

        query = parse_qs(urlsplit(redirect_url).query)
        return self.server.parse_authn_request(query["SAMLRequest"][0], BINDING_HTTP_REDIRECT).message

    def response(
        self,
        *,
        email: str,
        in_response_to: str | None,
        acs_url: str,
        audience: str,
        sign_assertion: bool = True,
        sign_response: bool = False,
        given_name: str = "Sam",
        sha1: bool = False,
        name_id: str | None = None,
    ) -> str:
        """A SAML Response as the IdP's HTTP-POST form would carry it (the XML text)."""
        identity = {"mail": [email], "givenName": [given_name], "sn": ["Example"]}
        response = self.server.create_authn_response(
            identity,
            in_response_to=in_response_to,
            destination=acs_url,
            sp_entity_id=audience,
            name_id=NameID(format=NAMEID_FORMAT_EMAILADDRESS, text=name_id or email),
            authn={"class_ref": PASSWORD_CLASS, "authn_auth": self.entity_id},
            sign_assertion=sign_assertion,
            sign_response=sign_response,
            sign_alg=RSA_SHA1 if sha1 else RSA_SHA256,
            digest_alg=SHA1 if sha1 else SHA256,
        )
        return str(response)


def post_form(xml: str) -> dict:
    return {"SAMLResponse": base64.b64encode(xml.encode()).decode()}


__all__ = ["BINDING_HTTP_POST", "SamlIdP", "post_form"]
