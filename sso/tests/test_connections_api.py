"""The SSO connections API: who may use it, what it checks, what it returns and records."""

from allauth.socialaccount.models import SocialApp

from audit.models import AuditEvent
from billing.tests.test_entitlements import put_on
from conftest import client_for
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from sso.models import SSOConnection
from sso.tests.conftest import CONNECTIONS, verified_domain
from sso.tests.test_oidc import oidc_connection_create


def body(issuer, **extra):
    return {"type": "oidc", "name": "Okta", "domains": ["corp.test"], "oidc": {"issuer": issuer, "client_id": "cid", "client_secret": "shh-secret"}, **extra}


def code_of(response) -> str:
    return response.json()["error"]["code"]


def test_create_read_update_delete_are_audited_and_never_show_the_secret(corp, oidc_peer, leak_guard):
    owner = client_for(corp.owner, corp)  # enforce never locks the owner out
    leak_guard.forbid("shh-secret", "the OIDC client secret")
    url = CONNECTIONS.format(org=corp.id)
    created = owner.post(url, body(oidc_peer), format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["type"] == "oidc" and data["domains"] == ["corp.test"] and data["enforce"] is False
    assert data["oidc"] == {"issuer": oidc_peer, "client_id": "cid", "redirect_uri": f"http://testserver/api/v1/auth/sso/{data['id']}/callback"}
    assert "client_secret" not in str(data)
    assert owner.get(url).json()["data"][0]["id"] == data["id"]
    detail = f"{url}/{data['id']}"
    changed = owner.patch(detail, {"name": "Okta prod", "enforce": True}, format="json")
    assert changed.status_code == 200 and changed.json()["name"] == "Okta prod" and changed.json()["enforce"] is True
    assert SocialApp.objects.get(provider_id=data["id"]).name == "Okta prod"
    updated = AuditEvent.objects.get(action="sso.connection_updated")
    assert updated.changes == {"name": ["Okta", "Okta prod"], "enforce": [False, True]}
    assert owner.delete(detail).status_code == 204
    assert not SSOConnection.objects.exists() and not SocialApp.objects.filter(provider_id=data["id"]).exists()
    actions = list(AuditEvent.objects.filter(action__startswith="sso.").order_by("created_at").values_list("action", flat=True))
    assert actions == ["sso.connection_created", "sso.connection_updated", "sso.connection_deleted"]
    assert all("shh-secret" not in str(event.metadata) + str(event.changes) for event in AuditEvent.objects.all())


def test_an_admin_cannot_enforce_sso_on_their_own_password_session(corp, corp_admin, oidc_peer):
    """Enforcement applies to every request of a non-SSO session: turning it on from one would lock the admin out mid-setup."""
    url = CONNECTIONS.format(org=corp.id)
    refused = corp_admin.post(url, body(oidc_peer, enforce=True), format="json")
    assert refused.status_code == 409 and "sign in through this connection first" in refused.json()["error"]["message"]
    created = corp_admin.post(url, body(oidc_peer), format="json")
    assert created.status_code == 201
    patched = corp_admin.patch(f"{url}/{created.json()['id']}", {"enforce": True}, format="json")
    assert patched.status_code == 409 and code_of(patched) == "CONFLICT"
    # enforcing another domain than the admin's own is fine
    verified_domain(corp, "labs.test")
    other = corp_admin.post(url, body(oidc_peer, domains=["labs.test"], enforce=True), format="json")
    assert other.status_code == 201, other.content
    assert corp_admin.get(url).status_code == 200


def test_members_cannot_manage_connections(corp, oidc_peer):
    member = MembershipFactory(organization=corp, role="member").user
    response = client_for(member, corp).post(CONNECTIONS.format(org=corp.id), body(oidc_peer), format="json")
    assert response.status_code == 403


def test_without_the_sso_flag_the_plan_answers_402(corp, corp_admin, oidc_peer):
    put_on(corp, "pro")
    response = corp_admin.post(CONNECTIONS.format(org=corp.id), body(oidc_peer), format="json")
    assert response.status_code == 402 and code_of(response) == "PLAN_UPGRADE_REQUIRED"
    assert corp_admin.get(CONNECTIONS.format(org=corp.id)).status_code == 402


def test_only_the_orgs_verified_domains_may_be_served(corp, corp_admin, oidc_peer):
    other = OrganizationFactory()
    verified_domain(other, "other.test")
    corp.domains.create(domain="pending.test", verification_token="p" * 40)  # claimed, not verified
    for domains in (["other.test"], ["pending.test"], ["nowhere.test"], []):
        response = corp_admin.post(CONNECTIONS.format(org=corp.id), body(oidc_peer, domains=domains), format="json")
        assert response.status_code == 400 and "domains" in response.json()["error"]["details"], domains
    assert not SSOConnection.objects.exists() and not SocialApp.objects.exists()


def test_a_domain_is_served_by_one_connection(corp, corp_admin, oidc_peer):
    url = CONNECTIONS.format(org=corp.id)
    assert corp_admin.post(url, body(oidc_peer), format="json").status_code == 201
    second = corp_admin.post(url, body(oidc_peer, name="Second"), format="json")
    assert second.status_code == 409


def test_the_discovery_document_is_fetched_and_checked(corp, corp_admin, oidc_peer):
    url = CONNECTIONS.format(org=corp.id)
    # Nothing listening there; an issuer that is not the one the document names; not a URL at all.
    for issuer in ("http://127.0.0.1:1", f"{oidc_peer}/other", "not a url"):
        response = corp_admin.post(url, body(issuer), format="json")
        assert response.status_code == 400 and "oidc.issuer" in response.json()["error"]["details"], (issuer, response.content)


def test_production_refuses_loopback_and_plain_http_issuers(corp, corp_admin, settings):
    settings.SSO_ALLOW_LOCAL_IDP = False
    url = CONNECTIONS.format(org=corp.id)
    for issuer in ("http://idp.example.com", "https://127.0.0.1", "https://localhost", "https://169.254.169.254"):
        response = corp_admin.post(url, body(issuer), format="json")
        assert response.status_code == 400 and "oidc.issuer" in response.json()["error"]["details"], issuer


def test_unknown_and_misplaced_fields_are_400(corp, corp_admin, oidc_peer):
    url = CONNECTIONS.format(org=corp.id)
    assert corp_admin.post(url, body(oidc_peer, colour="red"), format="json").status_code == 400
    nested = body(oidc_peer)
    nested["oidc"]["scope"] = "openid admin"
    assert corp_admin.post(url, nested, format="json").status_code == 400
    assert corp_admin.post(url, body(oidc_peer, saml={"metadata_url": "https://x"}), format="json").status_code == 400
    assert corp_admin.post(url, {"type": "oidc", "name": "x", "domains": ["corp.test"]}, format="json").status_code == 400


def test_another_orgs_connection_is_not_found(corp, corp_admin, oidc_peer):
    other = OrganizationFactory(slug="rival")
    put_on(other, "team")
    verified_domain(other, "rival.test")
    rival_owner = MembershipFactory(organization=other, role="owner").user
    rival = oidc_connection_create(client_for(rival_owner, other), other, oidc_peer, domains=("rival.test",))
    # Corp's admin, through Corp's path, cannot reach the rival's connection.
    detail = f"{CONNECTIONS.format(org=corp.id)}/{rival['id']}"
    assert corp_admin.get(detail).status_code == 404
    assert corp_admin.patch(detail, {"enforce": True}, format="json").status_code == 404
    assert corp_admin.delete(detail).status_code == 404
    # Nor through the rival's path, where Corp's admin is no member.
    assert corp_admin.get(f"{CONNECTIONS.format(org=other.id)}/{rival['id']}").status_code in (403, 404)
    assert SSOConnection.objects.get(id=rival["id"]).enforce is False


def test_the_connection_list_takes_constant_queries(corp, corp_admin, oidc_peer, django_assert_max_num_queries):
    """One connection or five, OIDC and SAML mixed: the same number of queries (core/tests/test_query_counts.py)."""
    from sso.tests.saml_idp import SamlIdP
    from sso.tests.test_saml import saml_connection_create

    url = CONNECTIONS.format(org=corp.id)
    oidc_connection_create(corp_admin, corp, oidc_peer)
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    corp_admin.get(url)  # warm: the org context and plan come from the cache after this
    with CaptureQueriesContext(connection) as one:
        assert len(corp_admin.get(url).json()["data"]) == 1
    queries = len(one.captured_queries)  # read now: the next request clears the connection's log
    assert 0 < queries <= 20
    for index in range(2):
        verified_domain(corp, f"oidc{index}.test")
        oidc_connection_create(corp_admin, corp, oidc_peer, domains=(f"oidc{index}.test",), name=f"IdP {index}")
    for index in range(2):
        verified_domain(corp, f"saml{index}.test")
        saml_connection_create(corp_admin, corp, SamlIdP(), domains=(f"saml{index}.test",))
    corp_admin.get(url)
    with django_assert_max_num_queries(queries):
        assert len(corp_admin.get(url).json()["data"]) == 5
