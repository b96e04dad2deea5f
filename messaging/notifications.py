"""`notification:new` over the WebSocket: the provider of `core.hooks.notification_created`."""

from messaging import realtime


def notification_payload(notification) -> dict:
    """A notification in the shape of the notifications API's items."""
    return {
        "id": str(notification.id),
        "event": notification.event,
        "title": notification.title,
        "body": notification.body,
        "data": notification.data or {},
        "organization_id": str(notification.organization_id) if notification.organization_id else None,
        "read": notification.read_at is not None,
        "read_at": notification.read_at.isoformat().replace("+00:00", "Z") if notification.read_at else None,
        "created_at": notification.created_at.isoformat().replace("+00:00", "Z"),
    }


def notification_publish(*, notification) -> None:
    """Push a committed notification to its user's sockets: that org's, or all of them for none."""
    if notification.organization_id:
        group = realtime.user_group(notification.organization_id, notification.user_id)
    else:
        group = realtime.user_any_org_group(notification.user_id)
    realtime.publish([group], "notification:new", {"notification": notification_payload(notification)})
