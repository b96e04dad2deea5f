"""GET/PUT /api/v1/premium/white-label and the white-label keys of PATCH orgs/{id}/settings: plan flag `white_label`."""

import pytest

from audit.models import AuditEvent
from conftest import client_for
from premium.tests.conftest import code_of

pytestmark = pytest.mark.django_db
URL = "/api/v1/premium/white-label"
BRAND = {"company_name": "Acme", "logo_url": "https://cdn.acme.example/logo.png", "primary_color": "#1a2B3c", "email_from_name": "Acme Team"}
EMPTY = {"company_name": None, "logo_url": None, "primary_color": None, "email_from_name": None}


def settings_url(organization) -> str:
    return f"/api/v1/orgs/{organization.id}/settings"


@pytest.fixture
def branded_team(team, on_plan):
    organization, members, clients = team
    on_plan(organization, "team")
    return organization, members, clients


@pytest.mark.parametrize("plan", ["free", "pro"])
def test_get_and_put_are_402_without_the_flag(team, on_plan, plan):
    organization, _, clients = team
    if plan != "free":
        on_plan(organization, plan)

    read = clients["owner"].get(URL)
    write = clients["owner"].put(URL, BRAND, format="json")

    for response in (read, write):
        assert response.status_code == 402 and code_of(response) == "PLAN_UPGRADE_REQUIRED"
    organization.refresh_from_db()
    assert "company_name" not in organization.settings


def test_put_stores_the_brand_in_the_settings_audited_and_get_reads_it(branded_team):
    # given
    organization, _, clients = branded_team

    # when
    written = clients["admin"].put(URL, BRAND, format="json")

    # then
    assert written.status_code == 200, written.content
    assert written.json() == BRAND
    assert clients["viewer"].get(URL).json() == BRAND  # read with org:read
    organization.refresh_from_db()
    assert {key: organization.settings[key] for key in BRAND} == BRAND
    event = AuditEvent.objects.filter(organization_id=organization.id, action="org.settings_updated").get()
    assert event.changes["company_name"] == [None, "Acme"]


def test_get_of_an_unbranded_org_is_all_null(branded_team):
    _, _, clients = branded_team

    assert clients["owner"].get(URL).json() == EMPTY


def test_put_replaces_the_whole_brand_absent_or_empty_removes(branded_team):
    organization, _, clients = branded_team
    clients["owner"].put(URL, BRAND, format="json")

    response = clients["owner"].put(URL, {"company_name": "Acme 2", "logo_url": ""}, format="json")

    assert response.json() == {**EMPTY, "company_name": "Acme 2"}
    organization.refresh_from_db()
    assert "logo_url" not in organization.settings and "primary_color" not in organization.settings


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("logo_url", "http://cdn.acme.example/logo.png"),
        ("logo_url", "javascript:alert(1)"),
        ("logo_url", "https://"),
        ("logo_url", "https://[::1"),
        ("logo_url", "https://cdn.example/" + "a" * 200),
        ("primary_color", "red"),
        ("primary_color", "#12345"),
        ("primary_color", "#1234567"),
        ("company_name", "x" * 101),
        ("email_from_name", "x" * 61),
        ("email_from_name", "Acme\r\nBcc: victim@example.com"),
    ],
)
def test_bad_values_are_400_naming_the_field(branded_team, field, value):
    _, _, clients = branded_team

    response = clients["owner"].put(URL, {**BRAND, field: value}, format="json")

    assert response.status_code == 400 and code_of(response) == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]


def test_unknown_field_is_400(branded_team):
    _, _, clients = branded_team

    response = clients["owner"].put(URL, {**BRAND, "favicon": "https://x.example/f.ico"}, format="json")

    assert response.status_code == 400 and "favicon" in response.json()["error"]["details"]


@pytest.mark.parametrize("role", ["member", "viewer"])
def test_put_needs_org_update(branded_team, role):
    organization, _, clients = branded_team

    response = clients[role].put(URL, BRAND, format="json")

    assert response.status_code == 403 and code_of(response) == "INSUFFICIENT_PERMISSIONS"
    organization.refresh_from_db()
    assert "company_name" not in organization.settings


def test_another_orgs_member_cannot_read_or_write_it(branded_team, org_factory, on_plan):
    organization, _, _ = branded_team
    other, other_members = org_factory()
    on_plan(other, "team")
    outsider = client_for(other_members["owner"].user, other)

    read = outsider.get(URL, HTTP_X_ORG_ID=str(organization.id))
    write = outsider.put(URL, BRAND, format="json", HTTP_X_ORG_ID=str(organization.id))

    assert read.status_code == write.status_code == 403
    organization.refresh_from_db()
    assert "company_name" not in organization.settings


# --- PATCH orgs/{id}/settings -----------------------------------------------------------------


@pytest.mark.parametrize("key", list(BRAND))
def test_settings_white_label_keys_are_402_on_free(team, key):
    organization, _, clients = team

    response = clients["owner"].patch(settings_url(organization), {"settings": {key: BRAND[key]}}, format="json")

    assert response.status_code == 402 and code_of(response) == "PLAN_UPGRADE_REQUIRED"
    organization.refresh_from_db()
    assert key not in organization.settings


def test_settings_other_keys_and_removing_the_brand_stay_open_on_free(team):
    organization, _, clients = team
    organization.settings = {"logo_url": "https://old.example/logo.png"}  # set while on a plan that had it
    organization.save(update_fields=["settings"])

    response = clients["owner"].patch(settings_url(organization), {"settings": {"timezone": "Europe/Paris", "logo_url": None}}, format="json")

    assert response.status_code == 200, response.content
    assert response.json()["settings"] == {"timezone": "Europe/Paris"}


def test_settings_white_label_keys_are_validated_and_accepted_with_the_flag(branded_team):
    organization, _, clients = branded_team

    bad = clients["owner"].patch(settings_url(organization), {"settings": {"primary_color": "blue", "logo_url": "http://x.example"}}, format="json")
    good = clients["owner"].patch(settings_url(organization), {"settings": BRAND}, format="json")

    assert bad.status_code == 400 and set(bad.json()["error"]["details"]) == {"primary_color", "logo_url"}
    assert good.status_code == 200 and clients["owner"].get(URL).json() == BRAND
