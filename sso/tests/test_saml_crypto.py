"""The test IdP's in-process signing backend (xmlsec Python binding): its signatures are real and checked as such."""

import re
from pathlib import Path

import pytest
from onelogin.saml2.utils import OneLogin_Saml2_Utils
from saml2 import sigver
from saml2.sigver import SignatureError

from sso.tests.saml_crypto import CryptoBackendXmlSecBinding
from sso.tests.saml_idp import SamlIdP

ASSERTION = "urn:oasis:names:tc:SAML:2.0:assertion:Assertion"
RESPONSE = "urn:oasis:names:tc:SAML:2.0:protocol:Response"
SP = "https://sp.test/metadata"
SP_METADATA = f"""<md:EntityDescriptor xmlns:md="urn:oasis:names:tc:SAML:2.0:metadata" entityID="{SP}">
  <md:SPSSODescriptor protocolSupportEnumeration="urn:oasis:names:tc:SAML:2.0:protocol" WantAssertionsSigned="true">
    <md:AssertionConsumerService Binding="urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST" Location="https://sp.test/acs" index="1"/>
  </md:SPSSODescriptor>
</md:EntityDescriptor>"""


def idp_for_sp(name: str = "idp.corp.test") -> SamlIdP:
    idp = SamlIdP(name)
    idp.trust_sp(SP_METADATA)
    return idp


@pytest.fixture(scope="module")
def idp() -> SamlIdP:
    return idp_for_sp()


def signed_response(idp: SamlIdP, **kwargs) -> str:
    return idp.response(email="sam@corp.test", in_response_to=None, acs_url="https://sp.test/acs", audience=SP, **kwargs)


def _no_programs(*args, **kwargs):
    raise AssertionError(f"the test IdP ran a program: {args}")


def element_id(xml: str, local_name: str) -> str:
    return re.search(rf"<\w+:{local_name} [^>]*\bID=\"([^\"]+)\"", xml).group(1)


def test_the_idp_needs_no_xmlsec1_binary(monkeypatch):
    # given no xmlsec1 on PATH, and pysaml2 unable to start any program
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(sigver, "Popen", _no_programs)
    # when the IdP signs
    xml = signed_response(idp_for_sp())
    # then the assertion carries a filled-in RSA-SHA256 signature
    assert 'Algorithm="http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"' in xml
    assert re.search(r"<ns\d:SignatureValue>[A-Za-z0-9+/=\s]{300,}</ns\d:SignatureValue>", xml)


def test_a_signed_assertion_verifies_with_the_idp_certificate(idp):
    xml = signed_response(idp)
    backend = CryptoBackendXmlSecBinding()
    assert backend.validate_signature(xml, idp.cert_file, "pem", ASSERTION, element_id(xml, "Assertion")) is True
    # and python3-saml (the SP's library) agrees
    certificate = Path(idp.cert_file).read_text()
    assert OneLogin_Saml2_Utils.validate_sign(xml, certificate, raise_exceptions=True)


def test_response_and_assertion_each_carry_their_own_valid_signature(idp):
    xml = signed_response(idp, sign_response=True)
    backend = CryptoBackendXmlSecBinding()
    assert backend.validate_signature(xml, idp.cert_file, "pem", RESPONSE, element_id(xml, "Response"))
    assert backend.validate_signature(xml, idp.cert_file, "pem", ASSERTION, element_id(xml, "Assertion"))


def test_a_tampered_assertion_fails_verification(idp):
    # given a signed assertion
    xml = signed_response(idp)
    # when an attacker changes the asserted address
    tampered = xml.replace("sam@corp.test", "boss@corp.test")
    # then its signature no longer verifies
    with pytest.raises(SignatureError):
        CryptoBackendXmlSecBinding().validate_signature(tampered, idp.cert_file, "pem", ASSERTION, element_id(xml, "Assertion"))


def test_an_assertion_signed_with_another_key_fails_verification(idp):
    impostor = idp_for_sp("idp.corp.test")  # same names, its own key
    xml = signed_response(impostor)
    with pytest.raises(SignatureError):
        CryptoBackendXmlSecBinding().validate_signature(xml, idp.cert_file, "pem", ASSERTION, element_id(xml, "Assertion"))


def test_a_signature_that_references_another_element_does_not_vouch_for_this_one(idp):
    # given a signed response whose assertion is unsigned
    xml = signed_response(idp, sign_assertion=False, sign_response=True)
    # when asked to verify the assertion, the response's signature is not taken for it
    with pytest.raises(SignatureError):
        CryptoBackendXmlSecBinding().validate_signature(xml, idp.cert_file, "pem", ASSERTION, element_id(xml, "Assertion"))
