"""The staff admin shows audit events but can neither change nor delete them."""

import pytest

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
