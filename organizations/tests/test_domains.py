"""Claimed email domains: claim, DNS verification (fake resolver), delete, sign-in offers, isolation."""

from datetime import timedelta

import dns.exception
import dns.resolver
import pytest
from rest_framework.test import APIClient

from accounts.models import OneTimeToken
from accounts.services import one_time_token_issue
from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from conftest import client_for
from core import clock, entitlements
from organizations import domains
from organizations.models import Domain, Invite, Membership
from organizations.tests.factories import MembershipFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _unlimited_plan(monkeypatch):
    """Plan limits are the billing app's business: here every org has room unless a test says otherwise."""
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: None)


def code_of(response) -> str:
    return response.json()["error"]["code"]


@pytest.fixture
def org(org_factory):
    return org_factory(roles=("owner", "admin", "member"))


@pytest.fixture
def admin_client(org):
    organization, members = org
    return client_for(members["admin"].user, organization)


@pytest.fixture
def dns_records(monkeypatch):
    """A fake resolver: {domain: [TXT strings]}; unknown names have no TXT records."""
    published: dict[str, list[str]] = {}
    monkeypatch.setattr(domains, "txt_records", lambda name: list(published.get(name, [])))
    return published


def domains_url(organization, suffix: str = "") -> str:
    return f"/api/v1/orgs/{organization.id}/domains{suffix}"


def claim(client, organization, domain="acme.example", join_policy="invite"):
    return client.post(domains_url(organization), {"domain": domain, "join_policy": join_policy}, format="json")


def verified_domain(organization, name="acme.example", join_policy="invite") -> Domain:
    return Domain.objects.create(organization=organization, domain=name, join_policy=join_policy, verification_token="t" * 40, verified_at=clock.now())


# --- claim ------------------------------------------------------------------------------------


def test_claim_returns_the_txt_record_to_publish(org, admin_client):
    organization, _ = org
    response = claim(admin_client, organization, domain=" Acme.Example. ", join_policy="auto_join")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["domain"] == "acme.example" and body["join_policy"] == "auto_join"
    assert body["verified"] is False and body["verified_at"] is None
    stored = Domain.objects.get(id=body["id"])
    assert body["verification_record"] == stored.verification_record == f"saas-domain-verification={stored.verification_token}"
    assert len(stored.verification_token) >= 32
    assert AuditEvent.objects.filter(action="domain.claimed", target_id=str(stored.id), organization_id=organization.id).exists()
    listed = admin_client.get(domains_url(organization)).json()
    assert set(listed) == {"data"} and listed["data"][0]["id"] == body["id"]


@pytest.mark.parametrize(
    "name",
    [
        "",
        "localhost",
        "no_underscores.example",
        "-bad.example",
        "bad-.example",
        "a..example",
        "me@acme.example",
        "https://acme.example",
        "10.0.0.1",
        "x" * 64 + ".example",
        "acme.example/path",
    ],
)
def test_invalid_domain_names_are_400(org, admin_client, name):
    organization, _ = org
    response = claim(admin_client, organization, domain=name)
    assert response.status_code == 400 and "domain" in response.json()["error"]["details"]
    assert not Domain.objects.exists()


def test_unicode_domain_is_stored_as_idna(org, admin_client):
    organization, _ = org
    response = claim(admin_client, organization, domain="bücher.example")
    assert response.status_code == 201 and response.json()["domain"] == "xn--bcher-kva.example"


@pytest.mark.parametrize("name", ["gmail.com", "Outlook.com", "yahoo.com"])
def test_public_webmail_domains_are_refused(org, admin_client, name):
    organization, _ = org
    response = claim(admin_client, organization, domain=name)
    assert response.status_code == 400 and "Public" in response.json()["error"]["message"]
    assert not Domain.objects.exists()


def test_bad_join_policy_is_400(org, admin_client):
    organization, _ = org
    response = claim(admin_client, organization, join_policy="everyone")
    assert response.status_code == 400 and "join_policy" in response.json()["error"]["details"]


def test_claiming_twice_or_a_domain_verified_elsewhere_is_conflict(org, admin_client, org_factory):
    organization, _ = org
    assert claim(admin_client, organization).status_code == 201
    assert claim(admin_client, organization, domain="ACME.example").status_code == 409
    other, _ = org_factory()
    verified_domain(other, name="taken.example")
    response = claim(admin_client, organization, domain="taken.example")
    assert response.status_code == 409 and code_of(response) == "CONFLICT"
    # an unverified claim elsewhere blocks nobody: whoever proves DNS control wins
    Domain.objects.create(organization=other, domain="open.example", verification_token="x" * 40)
    assert claim(admin_client, organization, domain="open.example").status_code == 201


def test_member_reads_domains_but_cannot_manage(org):
    organization, members = org
    domain = Domain.objects.create(organization=organization, domain="acme.example", verification_token="x" * 40)
    client = client_for(members["member"].user, organization)
    assert client.get(domains_url(organization)).status_code == 200
    assert claim(client, organization, domain="other.example").status_code == 403
    assert client.post(domains_url(organization, f"/{domain.id}/verify")).status_code == 403
    assert client.delete(domains_url(organization, f"/{domain.id}")).status_code == 403
    assert list(Domain.objects.all()) == [domain]


def test_domain_list_query_count_is_constant(org, admin_client, django_assert_max_num_queries):
    organization, _ = org

    def grow(to: int):
        for n in range(Domain.objects.count(), to):
            Domain.objects.create(organization=organization, domain=f"d{n:03d}.example", verification_token="x" * 40)

    grow(10)
    with django_assert_max_num_queries(9):
        assert len(admin_client.get(domains_url(organization)).json()["data"]) == 10
    grow(60)
    with django_assert_max_num_queries(9):
        assert len(admin_client.get(domains_url(organization)).json()["data"]) == 60


# --- verify -----------------------------------------------------------------------------------


def test_verify_finds_the_txt_record(org, admin_client, dns_records):
    organization, _ = org
    body = claim(admin_client, organization).json()
    dns_records["acme.example"] = ["v=spf1 -all", body["verification_record"]]
    response = admin_client.post(domains_url(organization, f"/{body['id']}/verify"))
    assert response.status_code == 200, response.content
    assert response.json()["verified"] is True and response.json()["verified_at"]
    assert Domain.objects.get(id=body["id"]).verified_at is not None
    assert AuditEvent.objects.filter(action="domain.verified", target_id=body["id"]).count() == 1
    # verifying again is harmless
    assert admin_client.post(domains_url(organization, f"/{body['id']}/verify")).status_code == 200
    assert AuditEvent.objects.filter(action="domain.verified").count() == 1


def test_verify_without_the_record_is_400_with_a_clear_message(org, admin_client, dns_records):
    organization, _ = org
    body = claim(admin_client, organization).json()
    dns_records["acme.example"] = ["saas-domain-verification=someone-else"]
    response = admin_client.post(domains_url(organization, f"/{body['id']}/verify"))
    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert body["verification_record"] in response.json()["error"]["message"]
    assert Domain.objects.get(id=body["id"]).verified_at is None
    assert not AuditEvent.objects.filter(action="domain.verified").exists()


@pytest.mark.parametrize(
    "error, words",
    [
        (dns.resolver.NXDOMAIN(), "does not exist"),
        (dns.exception.Timeout(), "timed out"),
        (dns.resolver.NoNameservers(), "failed"),
        (dns.resolver.NoAnswer(), "No TXT record"),
    ],
)
def test_dns_failures_are_400(org, admin_client, monkeypatch, error, words):
    organization, _ = org
    body = claim(admin_client, organization).json()

    def resolve(name, rdtype, **kwargs):
        assert (name, rdtype) == ("acme.example", "TXT")
        raise error

    monkeypatch.setattr(dns.resolver, "resolve", resolve)
    response = admin_client.post(domains_url(organization, f"/{body['id']}/verify"))
    assert response.status_code == 400 and words in response.json()["error"]["message"]
    assert Domain.objects.get(id=body["id"]).verified_at is None


def test_real_resolver_reads_txt_strings(monkeypatch):
    class Record:
        strings = (b"saas-domain-", b"verification=abc")

    monkeypatch.setattr(dns.resolver, "resolve", lambda name, rdtype, **kwargs: [Record()])
    assert domains.txt_records("acme.example") == ["saas-domain-verification=abc"]


def test_verify_when_another_org_verified_first_is_conflict(org, admin_client, org_factory, dns_records):
    organization, _ = org
    body = claim(admin_client, organization).json()
    dns_records["acme.example"] = [body["verification_record"]]
    other, _ = org_factory()
    verified_domain(other)
    response = admin_client.post(domains_url(organization, f"/{body['id']}/verify"))
    assert response.status_code == 409
    assert Domain.objects.get(id=body["id"]).verified_at is None


def test_delete(org, admin_client):
    organization, _ = org
    body = claim(admin_client, organization).json()
    assert admin_client.get(domains_url(organization, f"/{body['id']}")).json()["domain"] == "acme.example"
    assert admin_client.delete(domains_url(organization, f"/{body['id']}")).status_code == 204
    assert not Domain.objects.exists()
    assert AuditEvent.objects.filter(action="domain.deleted", target_id=body["id"]).exists()
    assert admin_client.delete(domains_url(organization, f"/{body['id']}")).status_code == 404


# --- membership for users of a verified domain -------------------------------------------------


def sign_in(user):
    response = APIClient().post("/api/v1/auth/login", {"email": user.email, "password": "S3cure-passphrase!"}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def domain_user(email="dana@acme.example", verified=True):
    user = UserFactory(email=email)
    if verified:
        user.email_verified_at = clock.now()
        user.save(update_fields=["email_verified_at"])
    return user


def test_auto_join_makes_a_verified_user_a_member_at_sign_in(org):
    organization, _ = org
    verified_domain(organization, join_policy="auto_join")
    dana = domain_user()
    body = sign_in(dana)
    membership = Membership.objects.get(organization=organization, user=dana)
    assert membership.role == "member" and membership.status == "active"
    assert body["organization"]["id"] == str(organization.id)  # their first org becomes the active one
    event = AuditEvent.objects.get(action="member.joined", target_id=str(dana.id))
    assert event.metadata["source"] == "domain"
    sign_in(dana)
    assert Membership.objects.filter(user=dana).count() == 1


def test_invite_policy_offers_membership_by_invite_once(org, mailoutbox, django_capture_on_commit_callbacks):
    organization, _ = org
    verified_domain(organization, join_policy="invite")
    dana = domain_user()
    with django_capture_on_commit_callbacks(execute=True):
        sign_in(dana)
    invite = Invite.objects.get(organization=organization)
    assert invite.email == dana.email and invite.role == "member" and invite.status == "pending" and invite.invited_by is None
    assert not Membership.objects.filter(organization=organization, user=dana).exists()
    assert len(mailoutbox) == 1 and "/join/" in mailoutbox[0].body and mailoutbox[0].to == [dana.email]
    with django_capture_on_commit_callbacks(execute=True):
        sign_in(dana)
    assert Invite.objects.count() == 1 and len(mailoutbox) == 1
    # declined once: not offered again at every sign-in
    Invite.objects.update(status=Invite.Status.DECLINED)
    sign_in(dana)
    assert Invite.objects.count() == 1


def test_a_lapsed_invitation_is_sent_again_as_it_was(org, mailoutbox, django_capture_on_commit_callbacks):
    organization, _ = org
    verified_domain(organization, join_policy="invite")
    dana = domain_user()
    lapsed = Invite.objects.create(organization=organization, email=dana.email, role="admin", code_hash="0" * 64, expires_at=clock.now() - timedelta(days=1))
    with django_capture_on_commit_callbacks(execute=True):
        sign_in(dana)
    lapsed.refresh_from_db()
    assert lapsed.role == "admin" and lapsed.expires_at > clock.now() and lapsed.code_hash != "0" * 64
    assert Invite.objects.count() == 1 and len(mailoutbox) == 1


@pytest.mark.parametrize("case", ["unverified_email", "unverified_domain", "other_domain", "already_member"])
def test_no_offer_without_proof_or_need(org, case):
    organization, _ = org
    if case == "unverified_domain":
        Domain.objects.create(organization=organization, domain="acme.example", join_policy="auto_join", verification_token="x" * 40)
    else:
        verified_domain(organization, join_policy="auto_join")
    dana = domain_user(email="dana@elsewhere.example" if case == "other_domain" else "dana@acme.example", verified=case != "unverified_email")
    if case == "already_member":
        MembershipFactory(organization=organization, user=dana, role="viewer", status="suspended")
    sign_in(dana)
    expected = 1 if case == "already_member" else 0
    assert Membership.objects.filter(organization=organization, user=dana).count() == expected
    assert not Invite.objects.exists()
    if case == "already_member":
        assert Membership.objects.get(user=dana).role == "viewer"


def test_email_verification_triggers_the_offer(org, api_client):
    organization, _ = org
    verified_domain(organization, join_policy="auto_join")
    dana = domain_user(verified=False)
    token = one_time_token_issue(user=dana, purpose=OneTimeToken.Purpose.EMAIL_VERIFY, lifetime=timedelta(hours=1), data={"email": dana.email})
    response = api_client.post("/api/v1/auth/email/verify", {"token": token}, format="json")
    assert response.status_code == 200, response.content
    assert Membership.objects.get(organization=organization, user=dana).role == "member"


def test_no_offer_when_the_plan_is_full(org, monkeypatch):
    organization, _ = org  # 3 active members
    monkeypatch.setattr(entitlements.entitlement_limit, "provider", lambda organization, name: 3)
    verified_domain(organization, join_policy="auto_join")
    verified_domain(organization, name="sub.acme.example", join_policy="invite")
    sign_in(domain_user())
    sign_in(domain_user(email="eve@sub.acme.example"))
    assert Membership.objects.filter(organization=organization).count() == 3 and not Invite.objects.exists()


def test_a_failing_offer_never_breaks_sign_in(org, monkeypatch):
    organization, _ = org
    verified_domain(organization, join_policy="auto_join")
    dana = domain_user()

    def broken(**kwargs):
        raise domains.ApplicationError(code="INTERNAL_ERROR", message="boom")

    monkeypatch.setattr(domains, "membership_add", broken)
    sign_in(dana)
    assert not Membership.objects.filter(organization=organization, user=dana).exists()


# --- isolation --------------------------------------------------------------------------------


def test_another_orgs_domains_are_invisible_and_untouchable(org, admin_client, org_factory, dns_records):
    organization, _ = org
    other, _ = org_factory()
    theirs = Domain.objects.create(organization=other, domain="theirs.example", verification_token="y" * 40)
    dns_records["theirs.example"] = [theirs.verification_record]
    responses = []
    for org_in_path in (other, organization):
        responses += [
            admin_client.get(domains_url(org_in_path, f"/{theirs.id}")),
            admin_client.post(domains_url(org_in_path, f"/{theirs.id}/verify")),
            admin_client.delete(domains_url(org_in_path, f"/{theirs.id}")),
        ]
    responses += [admin_client.get(domains_url(other)), claim(admin_client, other, domain="planted.example")]
    assert [r.status_code for r in responses] == [404] * len(responses)
    assert "theirs.example" not in str(admin_client.get(domains_url(organization)).json())
    theirs.refresh_from_db()
    assert theirs.verified_at is None
    assert list(Domain.objects.filter(organization=other)) == [theirs]
    assert not Domain.objects.filter(organization=organization).exists()
