"""SSO through SAML 2.0: a pysaml2 IdP in the test process signs real assertions posted to our ACS."""

from urllib.parse import urlsplit

import pytest
from allauth.socialaccount.models import SocialAccount, SocialApp
from django.test import Client

from accounts.models import User, UserSession
from audit.models import AuditEvent
from billing.tests.test_entitlements import put_on
from conftest import client_for
from core import clock
from organizations.models import Membership
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from sso.models import SSOConnection
from sso.tests.conftest import CONNECTIONS, START, frontend_fragment, verified_domain
from sso.tests.saml_idp import SamlIdP, post_form


def saml_connection_create(admin_client, organization, idp: SamlIdP, *, domains=("corp.test",)) -> dict:
    response = admin_client.post(
        CONNECTIONS.format(org=organization.id),
        {"type": "saml", "name": "Corp SAML", "domains": list(domains), "saml": {"metadata_xml": idp.metadata_xml()}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    metadata = Client().get(urlsplit(body["sp"]["metadata_url"]).path)
    assert metadata.status_code == 200 and metadata["Content-Type"].startswith("application/samlmetadata+xml")
    idp.trust_sp(metadata.content.decode())
    return body


@pytest.fixture
def idp() -> SamlIdP:
    return SamlIdP()


@pytest.fixture
def connection(corp, corp_admin, idp) -> dict:
    return saml_connection_create(corp_admin, corp, idp)


class Browser:
    def __init__(self):
        self.client = Client()

    def to_idp(self, email: str) -> str:
        started = self.client.post(START, {"email": email}, content_type="application/json")
        assert started.status_code == 200, started.content
        response = self.client.get(started.json()["redirect_url"])
        assert response.status_code == 302, response.content
        return response["Location"]

    def post_to_acs(self, acs_url: str, xml: str):
        handed = self.client.post(urlsplit(acs_url).path, post_form(xml))
        assert handed.status_code == 302, handed.content
        return self.client.get(handed["Location"])


def sign_in(browser: Browser, idp: SamlIdP, connection: dict, email: str, **response_kwargs):
    request = idp.read_request(browser.to_idp(email))
    kwargs = {
        "email": email,
        "in_response_to": request.id,
        "acs_url": connection["sp"]["acs_url"],
        "audience": connection["sp"]["entity_id"],
        **response_kwargs,
    }
    return browser.post_to_acs(connection["sp"]["acs_url"], idp.response(**kwargs))


def test_the_api_shows_what_to_paste_into_the_idp(corp, connection, idp):
    base = f"http://testserver/api/v1/auth/sso/{connection['id']}"
    assert connection["sp"] == {"entity_id": f"{base}/metadata", "acs_url": f"{base}/acs", "metadata_url": f"{base}/metadata"}
    assert connection["saml"] == {"idp_entity_id": idp.entity_id, "metadata_url": ""}
    row = SSOConnection.objects.get(id=connection["id"])
    assert idp.sso_url not in SocialApp.objects.get(provider_id=connection["id"]).settings.__str__()
    assert idp.sso_url not in row.sealed  # the IdP settings are sealed


def test_the_authn_request_goes_to_the_idp_for_our_acs(corp, connection, idp):
    url = Browser().to_idp("x@corp.test")
    assert url.startswith(idp.sso_url + "?")
    request = idp.read_request(url)
    assert request.assertion_consumer_service_url == connection["sp"]["acs_url"]
    assert request.issuer.text == connection["sp"]["entity_id"]


def test_a_signed_assertion_signs_in_and_jit_provisions(corp, connection, idp):
    fragment = frontend_fragment(sign_in(Browser(), idp, connection, "sam@corp.test"))
    assert fragment["token_type"] == "bearer"
    user = User.objects.get(email="sam@corp.test")
    assert user.email_verified and user.first_name == "Sam"
    assert Membership.objects.get(organization=corp, user=user).role == "member"
    assert UserSession.objects.get(user=user).auth_method == "sso"
    assert SocialAccount.objects.get(user=user).provider == connection["id"]
    assert AuditEvent.objects.filter(action="user.sso_login", target_id=str(user.id), organization_id=corp.id).exists()
    assert AuditEvent.objects.filter(action="member.jit_provisioned", target_id=str(user.id)).exists()


def test_an_existing_member_signs_in(corp, connection, idp):
    member = MembershipFactory(organization=corp, role="admin", user__email="lead@corp.test", user__email_verified_at=clock.now())
    fragment = frontend_fragment(sign_in(Browser(), idp, connection, "lead@corp.test"))
    assert "access_token" in fragment
    member.refresh_from_db()
    assert member.role == "admin"  # never changed by a sign-in


def test_a_tampered_assertion_is_refused(corp, connection, idp):
    browser = Browser()
    request = idp.read_request(browser.to_idp("sam@corp.test"))
    xml = idp.response(email="sam@corp.test", in_response_to=request.id, acs_url=connection["sp"]["acs_url"], audience=connection["sp"]["entity_id"])
    tampered = xml.replace("sam@corp.test", "boss@corp.test")
    assert tampered != xml
    assert frontend_fragment(browser.post_to_acs(connection["sp"]["acs_url"], tampered)) == {"error": "invalid_response"}
    assert not User.objects.filter(email__in=["sam@corp.test", "boss@corp.test"]).exists()


def test_an_unsigned_assertion_is_refused(corp, connection, idp):
    fragment = frontend_fragment(sign_in(Browser(), idp, connection, "sam@corp.test", sign_assertion=False))
    assert fragment == {"error": "invalid_response"}
    assert not User.objects.filter(email="sam@corp.test").exists()


def test_a_sha1_signature_is_refused(corp, connection, idp):
    assert frontend_fragment(sign_in(Browser(), idp, connection, "sam@corp.test", sha1=True)) == {"error": "invalid_response"}


def test_a_response_signed_but_with_an_unsigned_assertion_is_refused(corp, connection, idp):
    fragment = frontend_fragment(sign_in(Browser(), idp, connection, "sam@corp.test", sign_assertion=False, sign_response=True))
    assert fragment == {"error": "invalid_response"}


def test_an_assertion_signed_by_another_idp_is_refused(corp, connection, idp):
    impostor = SamlIdP("idp.corp.test")  # same names, its own key
    impostor.trust_sp(idp.sp_metadata[0])
    browser = Browser()
    request = idp.read_request(browser.to_idp("sam@corp.test"))
    xml = impostor.response(email="sam@corp.test", in_response_to=request.id, acs_url=connection["sp"]["acs_url"], audience=connection["sp"]["entity_id"])
    assert frontend_fragment(browser.post_to_acs(connection["sp"]["acs_url"], xml)) == {"error": "invalid_response"}


def test_an_expired_assertion_is_refused(corp, connection, idp, monkeypatch):
    from onelogin.saml2.utils import OneLogin_Saml2_Utils

    browser = Browser()
    request = idp.read_request(browser.to_idp("sam@corp.test"))
    xml = idp.response(email="sam@corp.test", in_response_to=request.id, acs_url=connection["sp"]["acs_url"], audience=connection["sp"]["entity_id"])
    real_now = OneLogin_Saml2_Utils.now
    monkeypatch.setattr(OneLogin_Saml2_Utils, "now", staticmethod(lambda: real_now() + 3600))  # posted an hour later
    assert frontend_fragment(browser.post_to_acs(connection["sp"]["acs_url"], xml)) == {"error": "invalid_response"}
    assert not User.objects.filter(email="sam@corp.test").exists()


def test_an_assertion_for_another_sp_is_refused(corp, connection, idp):
    """Org B's SP is the audience: posting it to org A's ACS (with A's request id) does not sign in at A."""
    other = OrganizationFactory(slug="other")
    put_on(other, "team")
    verified_domain(other, "other.test")
    other_owner = MembershipFactory(organization=other, role="owner").user
    other_connection = saml_connection_create(client_for(other_owner, other), other, idp, domains=("other.test",))
    browser = Browser()
    request = idp.read_request(browser.to_idp("sam@corp.test"))
    xml = idp.response(email="sam@corp.test", in_response_to=request.id, acs_url=connection["sp"]["acs_url"], audience=other_connection["sp"]["entity_id"])
    assert frontend_fragment(browser.post_to_acs(connection["sp"]["acs_url"], xml)) == {"error": "invalid_response"}


def test_an_idp_initiated_response_is_refused(corp, connection, idp):
    browser = Browser()
    xml = idp.response(email="sam@corp.test", in_response_to=None, acs_url=connection["sp"]["acs_url"], audience=connection["sp"]["entity_id"])
    assert frontend_fragment(browser.post_to_acs(connection["sp"]["acs_url"], xml)) == {"error": "invalid_state"}


def test_a_response_posted_in_another_browser_is_refused(corp, connection, idp):
    started, other = Browser(), Browser()
    request = idp.read_request(started.to_idp("sam@corp.test"))
    xml = idp.response(email="sam@corp.test", in_response_to=request.id, acs_url=connection["sp"]["acs_url"], audience=connection["sp"]["entity_id"])
    assert frontend_fragment(other.post_to_acs(connection["sp"]["acs_url"], xml)) == {"error": "invalid_state"}
    # Nor can the same response be replayed in the browser that started, once used.
    assert "access_token" in frontend_fragment(started.post_to_acs(connection["sp"]["acs_url"], xml))
    assert frontend_fragment(started.post_to_acs(connection["sp"]["acs_url"], xml)) == {"error": "invalid_state"}


def test_an_assertion_for_another_orgs_domain_is_refused(corp, connection, idp):
    other = OrganizationFactory(slug="victim")
    verified_domain(other, "victim.test")
    victim = MembershipFactory(organization=other, role="owner", user__email="ceo@victim.test", user__email_verified_at=clock.now()).user
    browser = Browser()
    request = idp.read_request(browser.to_idp("sam@corp.test"))
    xml = idp.response(email="ceo@victim.test", in_response_to=request.id, acs_url=connection["sp"]["acs_url"], audience=connection["sp"]["entity_id"])
    assert frontend_fragment(browser.post_to_acs(connection["sp"]["acs_url"], xml)) == {"error": "sso_domain_not_allowed"}
    assert not SocialAccount.objects.filter(user=victim).exists()


def test_a_linked_identity_asserting_another_domain_later_is_refused(corp, connection, idp):
    """Same subject (NameID), but the IdP now asserts an address outside the connection's domains."""
    assert "access_token" in frontend_fragment(sign_in(Browser(), idp, connection, "sam@corp.test"))
    browser = Browser()
    request = idp.read_request(browser.to_idp("sam@corp.test"))
    sp = connection["sp"]
    xml = idp.response(email="sam@elsewhere.test", name_id="sam@corp.test", in_response_to=request.id, acs_url=sp["acs_url"], audience=sp["entity_id"])
    fragment = frontend_fragment(browser.post_to_acs(sp["acs_url"], xml))
    assert fragment == {"error": "sso_domain_not_allowed"}
    assert UserSession.objects.filter(user__email="sam@corp.test").count() == 1


def test_bad_metadata_is_400(corp, corp_admin):
    url = CONNECTIONS.format(org=corp.id)
    for saml in ({"metadata_xml": "<not-xml"}, {"metadata_xml": "<EntityDescriptor/>"}, {}, {"metadata_xml": "<x/>", "metadata_url": "https://x"}):
        response = corp_admin.post(url, {"type": "saml", "name": "x", "domains": ["corp.test"], "saml": saml}, format="json")
        assert response.status_code == 400, (saml, response.content)
