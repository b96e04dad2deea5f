"""The staff admin shows audit events but can neither change nor delete them."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEvent
from audit.services import event_record
from core.actor import Actor

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit/auditevent/"


@pytest.fixture
def event():
    return event_record(action="org.updated", actor=Actor.system(), changes={"name": ["a", "b"]})


def test_staff_can_read_events(admin_client_otp, event):
    listing = admin_client_otp.get(CHANGELIST)
    detail = admin_client_otp.get(f"{CHANGELIST}{event.id}/change/")

    assert listing.status_code == 200 and b"org.updated" in listing.content
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content  # read-only page: no save button


def test_admin_refuses_change_and_delete(admin_client_otp, event):
    change = admin_client_otp.post(f"{CHANGELIST}{event.id}/change/", {"action": "rewritten"})
    delete_page = admin_client_otp.get(f"{CHANGELIST}{event.id}/delete/")
    delete = admin_client_otp.post(f"{CHANGELIST}{event.id}/delete/", {"post": "yes"})
    bulk = admin_client_otp.post(CHANGELIST, {"action": "delete_selected", "_selected_action": [str(event.id)], "post": "yes"})
    add = admin_client_otp.get(f"{CHANGELIST}add/")

    assert change.status_code == 403
    assert delete_page.status_code == 403 and delete.status_code == 403
    assert add.status_code == 403
    assert bulk.status_code in (200, 302)  # no such action: Django just shows the list again
    stored = AuditEvent.objects.get(id=event.id)
    assert stored.action == "org.updated"


def test_rows_show_the_organizations_name_in_a_constant_number_of_queries(admin_client_otp, org_factory, django_assert_max_num_queries):
    # given: events of several orgs
    first = org_factory()[0]
    event_record(action="org.updated", actor=Actor.system(), organization_id=first.id)
    with CaptureQueriesContext(connection) as one_org:
        admin_client_otp.get(CHANGELIST)
    organizations = [first, *(org_factory()[0] for _ in range(4))]
    for organization in organizations[1:]:
        event_record(action="org.updated", actor=Actor.system(), organization_id=organization.id)
    # when
    with django_assert_max_num_queries(len(one_org)):
        listing = admin_client_otp.get(CHANGELIST)
    # then
    html = listing.content.decode()
    for organization in organizations:
        assert organization.name in html
        assert str(organization.id) not in html


def test_the_changelist_filters_by_organization(admin_client_otp, org_factory):
    ours, theirs = org_factory()[0], org_factory()[0]
    event_record(action="member.added", actor=Actor.system(), organization_id=ours.id)
    event_record(action="member.removed", actor=Actor.system(), organization_id=theirs.id)

    html = admin_client_otp.get(CHANGELIST, {"organization_id": str(ours.id)}).content.decode()

    assert '<td class="field-action">member.added</td>' in html
    assert '<td class="field-action">member.removed</td>' not in html
