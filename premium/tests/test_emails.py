"""The org's e-mails (invitations) in its white label: name, logo, colour and From display name, HTML-escaped."""

import pytest

from core.actor import Actor
from organizations import emails
from organizations.invites import invite_create

pytestmark = pytest.mark.django_db
BRAND = {"company_name": "Acme", "logo_url": "https://cdn.acme.example/logo.png", "primary_color": "#1a2b3c", "email_from_name": "Acme Team"}


def _invite_by_api(client, organization, django_capture_on_commit_callbacks, email="new.person@corp.example"):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/api/v1/orgs/{organization.id}/invites", {"email": email, "role": "member"}, format="json")
    assert response.status_code == 201, response.content


def test_invitation_of_a_branded_org_carries_its_brand(team, on_plan, mailoutbox, django_capture_on_commit_callbacks, settings):
    # given
    settings.DEFAULT_FROM_EMAIL = "Platform <noreply@platform.example>"
    organization, _, clients = team
    on_plan(organization, "team")
    assert clients["owner"].put("/api/v1/premium/white-label", BRAND, format="json").status_code == 200

    # when
    _invite_by_api(clients["admin"], organization, django_capture_on_commit_callbacks)

    # then
    message = mailoutbox[-1]
    html = message.alternatives[0][0]
    assert message.from_email == "Acme Team via Platform <noreply@platform.example>"
    assert message.message()["From"] == "Acme Team via Platform <noreply@platform.example>"
    assert '<img src="https://cdn.acme.example/logo.png" alt="Acme"' in html
    assert "#1a2b3c" in html and ">Acme</strong>" in html
    assert "— Acme" in message.body


def test_invitation_of_an_unbranded_org_is_plain(team, mailoutbox, django_capture_on_commit_callbacks, settings):
    settings.DEFAULT_FROM_EMAIL = "Platform <noreply@platform.example>"
    organization, _, clients = team

    _invite_by_api(clients["admin"], organization, django_capture_on_commit_callbacks)

    message = mailoutbox[-1]
    assert message.from_email == "Platform <noreply@platform.example>"
    assert "<img" not in message.alternatives[0][0] and "via" not in message.from_email


def test_a_brand_kept_after_a_downgrade_is_not_used(team, on_plan, mailoutbox, django_capture_on_commit_callbacks):
    # given: branded on team, then back on free (the settings keep the values)
    organization, _, clients = team
    subscription = on_plan(organization, "team")
    clients["owner"].put("/api/v1/premium/white-label", BRAND, format="json")
    subscription.delete()

    # when
    _invite_by_api(clients["admin"], organization, django_capture_on_commit_callbacks)

    # then
    message = mailoutbox[-1]
    assert "Acme" not in message.from_email and "cdn.acme.example" not in message.alternatives[0][0]


def test_brand_values_are_html_escaped(team, on_plan, mailoutbox, settings):
    # given: values that are valid but hostile in HTML
    settings.DEFAULT_FROM_EMAIL = "noreply@platform.example"
    organization, members, _ = team
    on_plan(organization, "team")
    organization.settings = {
        "company_name": '<script>alert(1)</script> & "Co"',
        "logo_url": 'https://cdn.example/l.png?a=1&b="><script>x</script>',
        "primary_color": "#abcdef",
        "email_from_name": 'Evil, "Inc" <boss@evil.example>',
    }
    organization.save(update_fields=["settings"])
    issued = invite_create(organization=organization, email="someone@corp.example", role="member", actor=Actor.for_user(members["owner"].user))

    # when
    emails.invite_email_send(invite=issued.invite, code="the-code")

    # then
    message = mailoutbox[-1]
    html = message.alternatives[0][0]
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;Co&quot;" in html
    assert 'src="https://cdn.example/l.png?a=1&amp;b=&quot;&gt;&lt;script&gt;x&lt;/script&gt;"' in html
    # The display name is quoted: the address stays the platform's, no second mailbox sneaks in.
    assert message.message()["From"] == '"Evil, \\"Inc\\" <boss@evil.example>" <noreply@platform.example>'
