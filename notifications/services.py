"""Writes: deliver events (in-app row + queued email, per preferences), read state, preferences.

Every app sits above notifications and calls it directly: `notify` tells one user,
`notify_org_admins` an organization's owner and admins (e.g. integrations on a failure).
"""

import logging
from datetime import date, datetime
from functools import lru_cache

from django.apps import apps
from django.contrib.auth import get_user_model
from django.db import transaction
from django.template import Context, Engine, Template

from core import clock, hooks
from core.exceptions import validation_error
from core.roles import Role
from core.tasks import enqueue
from notifications import selectors, tasks
from notifications.catalog import EVENTS, EventType
from notifications.models import Notification, NotificationPreference

logger = logging.getLogger(__name__)

ADMIN_ROLES = (Role.OWNER, Role.ADMIN)
MAX_VALUE_CHARS = 500
TITLE_MAX_CHARS = Notification._meta.get_field("title").max_length
CHANNELS = ("email", "in_app")

# Titles and bodies are plain text (rendered unescaped; the HTML email escapes them itself).
# A key the context lacks renders empty.
_templates = Engine()


# --- delivery ---------------------------------------------------------------------------------


def _json_value(value):
    # Stored as JSON and shown to the user: plain values, long text cut.
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)[:MAX_VALUE_CHARS]


@lru_cache(maxsize=64)
def _compiled(template: str) -> Template:
    return _templates.from_string(template)


def _render(template: str, context: dict) -> str:
    return _compiled(template).render(Context(context, autoescape=False)).strip()


def message_render(*, event: EventType, organization, context: dict | None) -> tuple[str, str, dict]:
    """(title, body, data) of an event: only the catalog's keys of the context are kept or shown."""
    context = context or {}
    data = {key: _json_value(context[key]) for key in event.data_keys if key in context}
    organization_name = organization.name if organization is not None else data.get("organization_name", "")
    values = {**data, "organization_name": organization_name}
    return _render(event.title, values)[:TITLE_MAX_CHARS], _render(event.body, values), data


def _user_of(user):
    if user is None or hasattr(user, "_meta"):
        return user
    return get_user_model().objects.filter(pk=user).first()


def _deliver(*, event: EventType, user, organization, context: dict | None) -> Notification | None:
    channels = selectors.channels_resolve(preference=selectors.preference_of(user=user), event=event)
    if not (channels.in_app or channels.email):
        return None
    title, body, data = message_render(event=event, organization=organization, context=context)
    notification = None
    if channels.in_app:
        notification = Notification.objects.create(
            user=user, organization=organization, event=event.name, title=title, body=body, data=data, created_at=clock.now()
        )
        if hooks.notification_created.provided:
            # Live delivery (the messaging app's WebSocket) once committed; robust: never fails the change.
            transaction.on_commit(lambda: hooks.notification_created(notification=notification), robust=True)
    # After commit: no email about a change that rolled back. A broker outage is logged and
    # the task kept in the outbox, never turned into an error of the committed request.
    if channels.email and user.email and notification is not None:
        notification_id = str(notification.id)
        enqueue(tasks.send_notification_email, notification_id)
    elif channels.email and user.email:
        user_id = str(user.pk)
        enqueue(tasks.send_event_email, user_id, title, body)
    return notification


def notify(*, event: str, user, organization=None, context: dict | None = None) -> Notification | None:
    """Tell one user about an event, in the app and/or by email as their preferences say.

    The row is written in the caller's transaction and the email queued for after its commit.
    Never raises: a failing notification must not undo the change it reports. Returns the
    in-app notification, or None when there is none (no user, in-app off, unknown event).
    """
    event_type = EVENTS.get(event)
    if event_type is None:
        logger.error("unknown notification event %r: nothing sent", event)
        return None
    try:
        # A savepoint: a database error here rolls back only the notification.
        with transaction.atomic():
            user = _user_of(user)
            if user is None or not user.is_active:
                # An invitee without an account gets the invite flow's email only.
                return None
            return _deliver(event=event_type, user=user, organization=organization, context=context)
    except Exception:
        logger.exception("notification %s for user %s failed", event, getattr(user, "pk", user))
        return None


def notify_org_admins(*, organization, event: str, context: dict | None = None) -> list[Notification]:
    """Tell the organization's active owner and admins about an event (e.g. `integration_failed`)."""
    Membership = apps.get_model("organizations", "Membership")
    memberships = Membership.objects.filter(organization=organization, role__in=ADMIN_ROLES, status=Membership.Status.ACTIVE).select_related("user")
    delivered = [notify(event=event, user=m.user, organization=organization, context=context) for m in memberships]
    return [notification for notification in delivered if notification is not None]


# --- read state -------------------------------------------------------------------------------


def notification_mark_read(*, notification: Notification) -> Notification:
    """Mark one notification read (reading it again keeps the first read time)."""
    if notification.read_at is None:
        notification.read_at = clock.now()
        notification.save(update_fields=["read_at"])
    return notification


def notifications_mark_all_read(*, user, organization_id=None) -> int:
    """Mark every unread notification of the user read (optionally one organization's); return how many."""
    unread = selectors.notification_list(user=user, unread_only=True, organization_id=organization_id)
    return unread.order_by().update(read_at=clock.now())


def notification_delete(*, notification: Notification) -> None:
    """Delete one notification."""
    notification.delete()


# --- preferences ------------------------------------------------------------------------------


def _overrides_validate(overrides: dict) -> None:
    unknown = sorted(set(overrides) - set(EVENTS))
    if unknown:
        raise validation_error("preferences", f"Unknown event(s): {', '.join(unknown)}. Known: {', '.join(EVENTS)}.")
    for name, choice in overrides.items():
        if not isinstance(choice, dict) or set(choice) - set(CHANNELS) or not all(isinstance(v, bool) for v in choice.values()):
            raise validation_error("preferences", f"`{name}` takes `email` and/or `in_app` booleans.")


@transaction.atomic
def preferences_update(*, user, data: dict) -> NotificationPreference:
    """Change the global switches and/or per-event choices; events and channels not given stay as they were."""
    overrides = data.get("preferences") or {}
    _overrides_validate(overrides)
    preference, _ = NotificationPreference.objects.select_for_update().get_or_create(user=user)
    for switch in ("email_enabled", "in_app_enabled"):
        if switch in data:
            setattr(preference, switch, data[switch])
    merged = {name: dict(choice) for name, choice in (preference.preferences or {}).items() if name in EVENTS}
    for name, choice in overrides.items():
        merged.setdefault(name, {}).update(choice)
    preference.preferences = merged
    preference.save()
    return preference
