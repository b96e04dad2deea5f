"""Reads: a user's notifications, unread counts and notification preferences."""

from dataclasses import dataclass

from django.db.models import QuerySet

from core.errors import ErrorCode
from core.exceptions import ApplicationError
from notifications.catalog import EVENTS, EventType
from notifications.models import Notification, NotificationPreference


def notification_list(*, user, unread_only: bool = False, organization_id=None) -> QuerySet[Notification]:
    """The user's notifications, newest first; optionally only unread, or only about one organization."""
    notifications = Notification.objects.for_user(user)
    if unread_only:
        notifications = notifications.unread()
    if organization_id is not None:
        notifications = notifications.filter(organization_id=organization_id)
    return notifications.order_by("-created_at", "-id")


def notification_get(*, user, notification_id) -> Notification:
    """One of the user's notifications (404 for anyone else's: existence is never revealed)."""
    notification = Notification.objects.for_user(user).filter(id=notification_id).first()
    if notification is None:
        raise ApplicationError(code=ErrorCode.NOT_FOUND, message="Notification not found.", status_code=404)
    return notification


def notification_unread_count(*, user, organization_id=None) -> int:
    """How many of the user's notifications are unread."""
    return notification_list(user=user, unread_only=True, organization_id=organization_id).count()


def preference_of(*, user) -> NotificationPreference:
    """The user's stored preferences, or unsaved defaults when they never chose any."""
    user_id = getattr(user, "pk", user)
    return NotificationPreference.objects.filter(user_id=user_id).first() or NotificationPreference(user_id=user_id)


def event_choice(*, preference: NotificationPreference, event: EventType) -> dict[str, bool]:
    """`{email, in_app}` for one event: the user's override where set, else the catalog default."""
    chosen = (preference.preferences or {}).get(event.name) or {}
    return {"email": bool(chosen.get("email", event.email)), "in_app": bool(chosen.get("in_app", event.in_app))}


@dataclass(frozen=True)
class Channels:
    """Where one event goes for one user."""

    in_app: bool
    email: bool


def channels_resolve(*, preference: NotificationPreference, event: EventType) -> Channels:
    """A channel is used when both its global switch and the event's choice are on."""
    choice = event_choice(preference=preference, event=event)
    return Channels(
        in_app=preference.in_app_enabled and choice["in_app"],
        email=preference.email_enabled and choice["email"],
    )


def preferences_get(*, user) -> dict:
    """`{email_enabled, in_app_enabled, preferences: {event: {email, in_app}}}` with every known event."""
    preference = preference_of(user=user)
    return {
        "email_enabled": preference.email_enabled,
        "in_app_enabled": preference.in_app_enabled,
        "preferences": {name: event_choice(preference=preference, event=event) for name, event in EVENTS.items()},
    }


def user_export(*, user) -> dict:
    """The user's notifications and preferences, for `users/me/export`."""
    return {
        "notifications": [
            {
                "id": str(n.id),
                "event": n.event,
                "organization_id": str(n.organization_id) if n.organization_id else None,
                "title": n.title,
                "body": n.body,
                "data": n.data,
                "read_at": n.read_at,
                "created_at": n.created_at,
            }
            for n in notification_list(user=user)
        ],
        "notification_preferences": preferences_get(user=user),
    }
