"""Live events: group names and publishing to the channel layer once the change is committed.

Every event reaches a client as `{"type": "<event>", "data": {...}}`. Groups:
`user.<org_id>.<user_id>` (one person's sockets in one org), `user.<user_id>` (their sockets
in any org, for notifications about no org) and `chat.<chat_id>` (the chat's members' sockets).
"""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

logger = logging.getLogger(__name__)

# The consumer's handler of relayed events (`relay.event` -> `relay_event`).
RELAY = "relay.event"


def user_group(organization_id, user_id) -> str:
    """The group of one user's sockets connected to one organization."""
    return f"user.{organization_id}.{user_id}"


def user_any_org_group(user_id) -> str:
    """The group of one user's sockets, whatever org they connected to."""
    return f"user.{user_id}"


def chat_group(chat_id) -> str:
    """The group of the sockets of a chat's members."""
    return f"chat.{chat_id}"


def _send(groups: list[str], message: dict) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    for group in groups:
        try:
            async_to_sync(layer.group_send)(group, message)
        except Exception:  # a down channel layer must never fail the change that was already committed
            logger.exception("could not publish %s to %s", message.get("event"), group)


def _message(event: str, data: dict, *, chat_id=None, exclude_user_ids=(), control: dict | None = None) -> dict:
    return {
        "type": RELAY,
        "event": event,
        "data": data,
        "chat_id": str(chat_id) if chat_id else None,
        "exclude": [str(user_id) for user_id in exclude_user_ids],
        "control": control or {},
    }


def publish(groups: list[str], event: str, data: dict, *, chat_id=None, exclude_user_ids=(), control: dict | None = None) -> None:
    """Send `event` to the groups once the current transaction commits (at once outside one).

    `chat_id` lets a socket drop the event if it left that chat meanwhile; `exclude_user_ids`
    are not told; `control` tells sockets to join or leave a chat group
    (`{"join_chat": id}` / `{"leave_chat": id}`).
    """
    message = _message(event, data, chat_id=chat_id, exclude_user_ids=exclude_user_ids, control=control)
    groups = list(groups)
    # robust: a failing publish is logged, never turned into an error of a committed request.
    transaction.on_commit(lambda: _send(groups, message), robust=True)


async def apublish_to_users(organization_id, user_ids, event: str, data: dict) -> None:
    """Send an event to some users' sockets now, from async code (signalling relay)."""
    layer = get_channel_layer()
    message = _message(event, data)
    for user_id in user_ids:
        await layer.group_send(user_group(organization_id, user_id), message)


def publish_to_users(organization_id, user_ids, event: str, data: dict, **kwargs) -> None:
    """Send an event to some users' sockets in one organization."""
    publish([user_group(organization_id, user_id) for user_id in user_ids], event, data, **kwargs)


def publish_to_chat(chat_id, event: str, data: dict, **kwargs) -> None:
    """Send an event to every socket of the chat's members."""
    publish([chat_group(chat_id)], event, data, chat_id=chat_id, **kwargs)
