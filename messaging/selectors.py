"""Reads of messaging; every one is scoped to an organization and to the chats the user is in."""

import base64
import binascii

from django.db.models import Count, F, FilteredRelation, IntegerField, OuterRef, Prefetch, Q, QuerySet, Subquery, Value
from django.db.models.functions import Coalesce

from core.exceptions import validation_error
from messaging.models import Call, CallParticipant, Chat, ChatMember, Message

MESSAGES_PAGE_DEFAULT = 50
MESSAGES_PAGE_MAX = 100


def _members_prefetch() -> Prefetch:
    return Prefetch("members", queryset=ChatMember.objects.select_related("user").order_by("joined_at", "id"))


def chat_list(*, organization, user) -> QuerySet[Chat]:
    """The user's chats in the org, most recently active first, each with `unread_count`,
    `my_role`, `my_last_read_seq` and `last_message_id` (a constant number of queries)."""
    last_message = Message.objects.filter(chat=OuterRef("pk"), deleted_at__isnull=True).order_by("-seq").values("id")[:1]
    unread = (
        Message.objects.filter(chat=OuterRef("pk"), seq__gt=OuterRef("my_last_read_seq"), deleted_at__isnull=True)
        .exclude(sender=user)
        .order_by()
        .values("chat")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Chat.objects.for_organization(organization)
        .annotate(mine=FilteredRelation("members", condition=Q(members__user=user)))
        .filter(mine__isnull=False)
        .annotate(
            my_role=F("mine__role"),
            my_last_read_seq=F("mine__last_read_seq"),
            last_message_id=Subquery(last_message),
            activity_at=Coalesce("last_message_at", "created_at"),
        )
        .annotate(unread_count=Coalesce(Subquery(unread, output_field=IntegerField()), Value(0)))
        .prefetch_related(_members_prefetch())
        .order_by("-activity_at", "-id")
    )


def last_messages_attach(chats) -> list[Chat]:
    """Set `last_message` on each chat from its `last_message_id`, in one query for them all."""
    chats = list(chats)
    ids = [chat.last_message_id for chat in chats if chat.last_message_id]
    messages = Message.objects.select_related("sender").in_bulk(ids) if ids else {}
    for chat in chats:
        chat.last_message = messages.get(chat.last_message_id)
    return chats


def chat_get(*, organization, user, chat_id) -> Chat | None:
    """One chat of the org that the user is in, with the list annotations, or None."""
    chat = chat_list(organization=organization, user=user).filter(id=chat_id).first()
    return last_messages_attach([chat])[0] if chat is not None else None


def chat_for_update(*, organization, user, chat_id) -> tuple[Chat, ChatMember] | None:
    """Lock a chat of the org the user is in and return it with the user's membership, or None."""
    chat = Chat.objects.for_organization(organization).select_for_update().filter(id=chat_id).first()
    if chat is None:
        return None
    membership = ChatMember.objects.filter(chat=chat, user=user).first()
    return (chat, membership) if membership is not None else None


def chat_member_ids(*, chat) -> list:
    """User ids of the chat's members."""
    return list(ChatMember.objects.filter(chat=chat).values_list("user_id", flat=True))


def chat_ids_of(*, organization, user) -> list:
    """Ids of the user's chats in the org (the chat groups a socket joins)."""
    return list(ChatMember.objects.filter(chat__organization=organization, user=user).values_list("chat_id", flat=True))


def unread_count(*, chat, user, last_read_seq: int) -> int:
    """Messages of the chat after `last_read_seq`, not deleted, not the user's own."""
    return Message.objects.filter(chat=chat, seq__gt=last_read_seq, deleted_at__isnull=True).exclude(sender=user).count()


# --- messages ---------------------------------------------------------------------------------


def cursor_encode(message: Message) -> str:
    """An opaque cursor pointing just before `message` in newest-first order."""
    return base64.urlsafe_b64encode(f"m{message.seq}".encode()).decode().rstrip("=")


def cursor_decode(cursor: str) -> int:
    """The sequence number a cursor points before; 400 naming `cursor` when it was not made by us."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        if not (raw.startswith("m") and raw[1:].isascii() and raw[1:].isdigit()) or len(raw) > 20:
            raise ValueError(raw)
        return int(raw[1:])
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise validation_error("cursor", "Invalid cursor.") from None


def message_page(*, chat, cursor: str = "", limit: int = MESSAGES_PAGE_DEFAULT) -> tuple[list[Message], str | None]:
    """The `limit` messages before `cursor` ("" = from the newest), newest first, and the next cursor."""
    messages = Message.objects.filter(chat=chat).select_related("sender").order_by("-seq")
    if cursor:
        messages = messages.filter(seq__lt=cursor_decode(cursor))
    rows = list(messages[: limit + 1])
    next_cursor = cursor_encode(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def message_get(*, chat, message_id) -> Message | None:
    """One message of the chat, or None."""
    return Message.objects.filter(chat=chat, id=message_id).select_related("sender").first()


# --- calls ------------------------------------------------------------------------------------


def _calls_with_participants() -> QuerySet[Call]:
    return Call.objects.prefetch_related(Prefetch("participants", queryset=CallParticipant.objects.select_related("user").order_by("joined_at", "id")))


def call_get(*, organization, user, call_id) -> Call | None:
    """One call of the org, in a chat the user is in, or None."""
    return _calls_with_participants().filter(organization=organization, id=call_id, chat__members__user=user).select_related("chat").first()


def call_active(*, chat) -> Call | None:
    """The chat's ringing or active call, or None."""
    return _calls_with_participants().filter(chat=chat).live().first()


def call_recipients(*, call, exclude_user_id=None) -> list:
    """User ids of the call's participants still in it (invited or joined), but `exclude_user_id`."""
    participants = CallParticipant.objects.filter(call=call, state__in=(CallParticipant.State.INVITED, CallParticipant.State.JOINED))
    if exclude_user_id is not None:
        participants = participants.exclude(user_id=exclude_user_id)
    return list(participants.values_list("user_id", flat=True))
