"""The staff admin shows notifications and preferences read-only."""

import pytest

from accounts.tests.factories import UserFactory
from notifications.models import NotificationPreference
from notifications.tests.factories import NotificationFactory

pytestmark = pytest.mark.django_db


def test_staff_can_read_notifications_but_not_change_them(admin_client_otp):
    notification = NotificationFactory(title="Payment failed for Acme")
    url = "/admin/notifications/notification/"
    listing = admin_client_otp.get(url)
    detail = admin_client_otp.get(f"{url}{notification.id}/change/")
    assert listing.status_code == 200 and b"Payment failed for Acme" in listing.content
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
    assert admin_client_otp.get(f"{url}add/").status_code == 403
    assert admin_client_otp.post(f"{url}{notification.id}/delete/", {"post": "yes"}).status_code == 403


def test_staff_can_read_preferences(admin_client_otp):
    preference = NotificationPreference.objects.create(user=UserFactory(), email_enabled=False)
    url = "/admin/notifications/notificationpreference/"
    assert admin_client_otp.get(url).status_code == 200
    detail = admin_client_otp.get(f"{url}{preference.id}/change/")
    assert detail.status_code == 200 and b'name="_save"' not in detail.content
