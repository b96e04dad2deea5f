"""Writes of messaging: chats and their members, messages and read state, calls and signalling checks.

Each change is atomic, records its audit event in the same transaction (chats, membership,
message edits and deletions, calls; not every sent message or read receipt, which are the
conversation itself) and publishes its live event once committed (`messaging.realtime`).
"""

from django.db import IntegrityError, transaction

from audit.services import event_record
from core import clock
from core.actor import Actor
from core.services import model_update
from messaging import payloads, realtime, selectors
from messaging.errors import conflict, forbidden, not_found, validation_error
from messaging.models import Call, CallParticipant, Chat, ChatMember, Message, direct_key_of
from organizations.models import Membership

MAX_MESSAGE_CHARS = 4000
MAX_GROUP_MEMBERS = 256


def _audit(action: str, *, organization, actor: Actor, target, changes=None, metadata=None) -> None:
    event_record(action=action, actor=actor, organization_id=organization.id, target=target, changes=changes, metadata=metadata)


def _chat_not_found():
    return not_found("Chat not found.")


def _locked_chat(*, organization, user, chat_id) -> tuple[Chat, ChatMember]:
    found = selectors.chat_for_update(organization=organization, user=user, chat_id=chat_id)
    if found is None:
        # Another org's chat and a chat one is not in look the same: not found.
        raise _chat_not_found()
    return found


def _require_group_admin(chat: Chat, membership: ChatMember, what: str) -> None:
    if chat.is_direct:
        raise conflict(f"A direct chat cannot {what}.")
    if membership.role != ChatMember.Role.ADMIN:
        raise forbidden(f"Only the chat's admins can {what}.")


def _active_member_ids(*, organization, user_ids) -> set:
    """The given user ids that are active members of the organization; 400 naming the others."""
    wanted = {str(user_id) for user_id in user_ids}
    found = {
        str(user_id)
        for user_id in Membership.objects.filter(organization=organization, user_id__in=wanted, status=Membership.Status.ACTIVE).values_list(
            "user_id", flat=True
        )
    }
    missing = sorted(wanted - found)
    if missing:
        # One message for unknown users and other orgs' users alike: nothing about them is revealed.
        raise validation_error("member_ids", f"Not active members of this organization: {', '.join(missing)}.")
    return found


# --- chats ------------------------------------------------------------------------------------


def chat_create(*, organization, actor: Actor, kind: str, member_ids, name: str = "", description: str = "") -> tuple[Chat, bool]:
    """Create a chat (the caller is in it); a direct chat that exists already is returned as it is.

    Returns (chat, created). A direct chat names exactly one other member; a group chat needs a name.
    """
    user = actor.user
    others = {str(user_id) for user_id in member_ids} - {str(user.pk)}
    if kind == Chat.Kind.DIRECT:
        if len(others) != 1:
            raise validation_error("member_ids", "A direct chat names exactly one other member of the organization.")
    elif kind == Chat.Kind.GROUP:
        if not (name or "").strip():
            raise validation_error("name", "A group chat needs a name.")
        if len(others) + 1 > MAX_GROUP_MEMBERS:
            raise validation_error("member_ids", f"A group chat has at most {MAX_GROUP_MEMBERS} members.")
    else:
        raise validation_error("type", "`type` is `direct` or `group`.")
    _active_member_ids(organization=organization, user_ids=others)
    if kind == Chat.Kind.DIRECT:
        key = direct_key_of([user.pk, *others])
        existing = Chat.objects.for_organization(organization).filter(kind=Chat.Kind.DIRECT, direct_key=key).first()
        if existing is not None:
            return existing, False
        try:
            # A savepoint: two people opening the same direct chat at once both end up with the one row.
            with transaction.atomic():
                chat = _chat_insert(organization=organization, actor=actor, kind=kind, others=others, key=key)
        except IntegrityError:
            existing = Chat.objects.for_organization(organization).filter(kind=Chat.Kind.DIRECT, direct_key=key).first()
            if existing is None:
                raise
            return existing, False
        return chat, True
    with transaction.atomic():
        chat = _chat_insert(
            organization=organization,
            actor=actor,
            kind=kind,
            others=others,
            name=name.strip(),
            description=description or "",
        )
    return chat, True


def _chat_insert(*, organization, actor: Actor, kind, others, key=None, name="", description="") -> Chat:
    user = actor.user
    chat = Chat.objects.create(organization=organization, kind=kind, name=name, description=description, direct_key=key, created_by=user)
    # In a direct chat both are admins of it: either may delete it.
    creator_role = ChatMember.Role.ADMIN
    other_role = ChatMember.Role.ADMIN if kind == Chat.Kind.DIRECT else ChatMember.Role.MEMBER
    ChatMember.objects.bulk_create(
        [ChatMember(chat=chat, user=user, role=creator_role)] + [ChatMember(chat=chat, user_id=user_id, role=other_role) for user_id in sorted(others)]
    )
    member_ids = [str(user.pk), *sorted(others)]
    _audit(
        "chat.created",
        organization=organization,
        actor=actor,
        target=chat,
        metadata={"type": kind, "name": name, "member_ids": member_ids},
    )
    realtime.publish_to_users(organization.id, member_ids, "chat:created", {"chat": payloads.chat_brief_payload(chat)}, control={"join_chat": str(chat.id)})
    return chat


@transaction.atomic
def chat_update(*, organization, actor: Actor, chat_id, data: dict) -> Chat:
    """Rename or describe a group chat (its admins only)."""
    chat, membership = _locked_chat(organization=organization, user=actor.user, chat_id=chat_id)
    _require_group_admin(chat, membership, "be renamed" if chat.is_direct else "change it")
    if "name" in data and not (data["name"] or "").strip():
        raise validation_error("name", "A group chat needs a name.")
    clean = {key: (value.strip() if key == "name" else value) for key, value in data.items() if key in ("name", "description")}
    chat, changes = model_update(instance=chat, fields=["name", "description"], data=clean)
    if changes:
        _audit("chat.updated", organization=organization, actor=actor, target=chat, changes=changes)
        realtime.publish_to_chat(chat.id, "chat:updated", {"chat": payloads.chat_brief_payload(chat)})
    return chat


@transaction.atomic
def chat_delete(*, organization, actor: Actor, chat_id) -> None:
    """Delete a chat with its messages: a group chat by its admins, a direct chat by either member."""
    chat, membership = _locked_chat(organization=organization, user=actor.user, chat_id=chat_id)
    if membership.role != ChatMember.Role.ADMIN:
        raise forbidden("Only the chat's admins can delete it.")
    _chat_remove(chat=chat, organization=organization, actor=actor)


def _chat_remove(*, chat: Chat, organization, actor: Actor) -> None:
    # A call still ringing or live in the chat ends first, so its participants get `call:ended`
    # (the deletion below takes the call rows with it).
    for call in Call.objects.filter(chat=chat).live().select_for_update():
        _call_finish(call=call, organization=organization, actor=actor, reason="chat_deleted")
    _audit(
        "chat.deleted",
        organization=organization,
        actor=actor,
        target=chat,
        metadata={"type": chat.kind, "name": chat.name, "messages": chat.last_seq},
    )
    realtime.publish_to_chat(chat.id, "chat:deleted", {"chat_id": str(chat.id)}, control={"leave_chat": str(chat.id)})
    chat.delete()


@transaction.atomic
def chat_members_add(*, organization, actor: Actor, chat_id, member_ids) -> list[str]:
    """Add active members of the organization to a group chat (its admins only); return the ids added."""
    chat, membership = _locked_chat(organization=organization, user=actor.user, chat_id=chat_id)
    _require_group_admin(chat, membership, "take more members")
    wanted = _active_member_ids(organization=organization, user_ids=member_ids)
    present = {str(user_id) for user_id in selectors.chat_member_ids(chat=chat)}
    added = sorted(wanted - present)
    if len(present) + len(added) > MAX_GROUP_MEMBERS:
        raise validation_error("member_ids", f"A group chat has at most {MAX_GROUP_MEMBERS} members.")
    # New members have read nothing yet: they see the history and its unread count.
    ChatMember.objects.bulk_create([ChatMember(chat=chat, user_id=user_id) for user_id in added])
    for user_id in added:
        _audit(
            "chat.member_added",
            organization=organization,
            actor=actor,
            target=chat,
            metadata={"user_id": user_id},
        )
    if added:
        brief = payloads.chat_brief_payload(chat)
        realtime.publish_to_chat(chat.id, "chat:member_added", {"chat": brief, "user_ids": added})
        realtime.publish_to_users(organization.id, added, "chat:member_added", {"chat": brief, "user_ids": added}, control={"join_chat": str(chat.id)})
    return added


@transaction.atomic
def chat_member_remove(*, organization, actor: Actor, chat_id, user_id) -> None:
    """Remove someone from a group chat (its admins only; removing oneself is leaving)."""
    user = actor.user
    if str(user_id) == str(user.pk):
        _leave(organization=organization, actor=actor, chat_id=chat_id)
        return
    chat, membership = _locked_chat(organization=organization, user=user, chat_id=chat_id)
    _require_group_admin(chat, membership, "lose members")
    removed = ChatMember.objects.filter(chat=chat, user_id=user_id).first()
    if removed is None:
        raise not_found("This user is not a member of the chat.")
    removed.delete()
    _audit(
        "chat.member_removed",
        organization=organization,
        actor=actor,
        target=chat,
        metadata={"user_id": str(user_id)},
    )
    _after_departure(chat=chat, organization=organization, user_id=user_id, event="chat:member_removed")


@transaction.atomic
def chat_leave(*, organization, actor: Actor, chat_id) -> None:
    """Leave a group chat; the last one out deletes it, and a chat left without admins gets one."""
    _leave(organization=organization, actor=actor, chat_id=chat_id)


def _leave(*, organization, actor: Actor, chat_id) -> None:
    user = actor.user
    chat, membership = _locked_chat(organization=organization, user=user, chat_id=chat_id)
    if chat.is_direct:
        raise conflict("A direct chat cannot be left; delete it instead.")
    membership.delete()
    _audit("chat.member_left", organization=organization, actor=actor, target=chat, metadata={"user_id": str(user.pk)})
    remaining = ChatMember.objects.filter(chat=chat).order_by("joined_at", "id")
    if not remaining.exists():
        # The leaver's sockets are still in the chat's group: chat:deleted reaches them there.
        _chat_remove(chat=chat, organization=organization, actor=actor)
        return
    if not remaining.filter(role=ChatMember.Role.ADMIN).exists():
        successor = remaining.first()
        successor.role = ChatMember.Role.ADMIN
        successor.save(update_fields=["role"])
        _audit(
            "chat.admin_assigned",
            organization=organization,
            actor=actor,
            target=chat,
            metadata={"user_id": str(successor.user_id), "reason": "last admin left"},
        )
    _after_departure(chat=chat, organization=organization, user_id=user.pk, event="chat:member_left")


def member_departed(*, organization, user) -> None:
    """`core.hooks.member_cleanup`: someone leaving (or removed from) the org leaves every chat of it.

    Re-joining the org later must not bring back access to the old conversations.
    """
    for membership in ChatMember.objects.filter(chat__organization=organization, user=user).select_related("chat"):
        chat = membership.chat
        if chat.is_direct:
            # The other person keeps the conversation; only the departed member's seat goes.
            membership.delete()
            _audit("chat.member_removed", organization=organization, actor=Actor.system(), target=chat,
                   metadata={"user_id": str(user.pk), "reason": "left the organization"})  # fmt: skip
            _after_departure(chat=chat, organization=organization, user_id=user.pk, event="chat:member_removed")
        else:
            _leave(organization=organization, actor=Actor.for_user(user), chat_id=chat.id)


def _after_departure(*, chat: Chat, organization, user_id, event: str) -> None:
    data = {"chat": payloads.chat_brief_payload(chat), "user_id": str(user_id)}
    realtime.publish_to_chat(chat.id, event, data, exclude_user_ids=[user_id])
    # The one who went: told on their own group, and their sockets leave the chat's group.
    realtime.publish_to_users(organization.id, [user_id], event, data, control={"leave_chat": str(chat.id)})


# --- messages ---------------------------------------------------------------------------------


def _content_clean(content) -> str:
    text = (content or "").strip() if isinstance(content, str) else ""
    if not text:
        raise validation_error("content", "A message needs some text.")
    if len(text) > MAX_MESSAGE_CHARS:
        raise validation_error("content", f"A message has at most {MAX_MESSAGE_CHARS} characters.")
    return text


@transaction.atomic
def message_send(*, organization, actor: Actor, chat_id, content: str, message_type: str = Message.Type.TEXT) -> Message:
    """Post a message to a chat the caller is in; it is numbered after the chat's last one."""
    user = actor.user
    text = _content_clean(content)
    if message_type not in Message.Type.values:
        raise validation_error("message_type", f"`message_type` is one of: {', '.join(Message.Type.values)}.")
    # The chat row lock numbers messages without gaps or duplicates under concurrent senders.
    chat, membership = _locked_chat(organization=organization, user=user, chat_id=chat_id)
    now = clock.now()
    chat.last_seq += 1
    chat.last_message_at = now
    chat.save(update_fields=["last_seq", "last_message_at", "updated_at"])
    message = Message.objects.create(chat=chat, seq=chat.last_seq, sender=user, message_type=message_type, content=text, created_at=now)
    # One's own message counts as read.
    membership.last_read_seq = message.seq
    membership.save(update_fields=["last_read_seq"])
    realtime.publish_to_chat(chat.id, "message:new", {"message": payloads.message_payload(message)})
    return message


def _message_for_change(*, organization, user, chat_id, message_id) -> tuple[Chat, ChatMember, Message]:
    chat, membership = _locked_chat(organization=organization, user=user, chat_id=chat_id)
    message = Message.objects.select_for_update().filter(chat=chat, id=message_id).first()
    if message is None:
        raise not_found("Message not found.")
    return chat, membership, message


@transaction.atomic
def message_edit(*, organization, actor: Actor, chat_id, message_id, content: str) -> Message:
    """Change the text of one's own message."""
    user = actor.user
    text = _content_clean(content)
    chat, _, message = _message_for_change(organization=organization, user=user, chat_id=chat_id, message_id=message_id)
    if message.sender_id != user.pk:
        raise forbidden("Only the author can edit a message.")
    if message.is_deleted:
        raise conflict("A deleted message cannot be edited.")
    if message.content != text:
        message.content = text
        message.edited_at = clock.now()
        message.save(update_fields=["content", "edited_at"])
        # The text itself stays out of the audit log: it is the conversation, not an admin change.
        _audit(
            "message.edited",
            organization=organization,
            actor=actor,
            target=message,
            metadata={"chat_id": str(chat.id), "seq": message.seq},
        )
        realtime.publish_to_chat(chat.id, "message:updated", {"message": payloads.message_payload(message)})
    message.sender = user
    return message


@transaction.atomic
def message_delete(*, organization, actor: Actor, chat_id, message_id) -> None:
    """Delete a message (its author or a chat admin): the row stays, its text is wiped."""
    user = actor.user
    chat, membership, message = _message_for_change(organization=organization, user=user, chat_id=chat_id, message_id=message_id)
    is_author = message.sender_id == user.pk
    if not (is_author or membership.role == ChatMember.Role.ADMIN):
        raise forbidden("Only the author or a chat admin can delete a message.")
    if message.is_deleted:
        return
    message.deleted_at = clock.now()
    message.content = ""
    message.save(update_fields=["deleted_at", "content"])
    _audit(
        "message.deleted",
        organization=organization,
        actor=actor,
        target=message,
        metadata={"chat_id": str(chat.id), "seq": message.seq, "author_id": str(message.sender_id) if message.sender_id else None, "by_author": is_author},
    )
    realtime.publish_to_chat(chat.id, "message:deleted", {"message_id": str(message.id), "chat_id": str(chat.id), "seq": message.seq})


@transaction.atomic
def chat_mark_read(*, organization, actor: Actor, chat_id, message_id=None) -> tuple[ChatMember, int]:
    """Mark the chat read up to a message (default: its last one); never moves backwards.

    Returns (membership, unread count after it).
    """
    user = actor.user
    chat, membership = _locked_chat(organization=organization, user=user, chat_id=chat_id)
    upto = chat.last_seq
    if message_id is not None:
        message = Message.objects.filter(chat=chat, id=message_id).only("seq").first()
        if message is None:
            raise validation_error("message_id", "No such message in this chat.")
        upto = message.seq
    if upto > membership.last_read_seq:
        membership.last_read_seq = upto
        membership.save(update_fields=["last_read_seq"])
        realtime.publish_to_chat(chat.id, "message:read", {"chat_id": str(chat.id), "user_id": str(user.pk), "last_read_seq": upto})
    return membership, selectors.unread_count(chat=chat, user=user, last_read_seq=membership.last_read_seq)


# --- calls ------------------------------------------------------------------------------------


def _call_for_change(*, organization, user, call_id) -> tuple[Call, CallParticipant]:
    """Lock a live call of a chat the caller is in; return it with the caller's participation."""
    call = Call.objects.for_organization(organization).select_for_update().filter(id=call_id, chat__members__user=user).select_related("chat").first()
    if call is None:
        raise not_found("Call not found.")
    if call.status == Call.Status.ENDED:
        raise conflict("The call has ended.", call_id=[str(call.id)])
    participant, _ = CallParticipant.objects.get_or_create(call=call, user=user)
    return call, participant


def _reload(call: Call) -> Call:
    """The call again, with its participants, for the response."""
    return Call.objects.prefetch_related("participants__user").select_related("chat").get(pk=call.pk)


@transaction.atomic
def call_start(*, organization, actor: Actor, chat_id, kind: str) -> Call:
    """Ring the chat's other members; one live call per chat (409 naming the live one)."""
    user = actor.user
    if kind not in Call.Kind.values:
        raise validation_error("call_type", "`call_type` is `audio` or `video`.")
    chat, _ = _locked_chat(organization=organization, user=user, chat_id=chat_id)
    live = Call.objects.filter(chat=chat).live().first()
    if live is not None:
        raise conflict("This chat already has a call in progress.", call_id=[str(live.id)])
    now = clock.now()
    call = Call.objects.create(organization=organization, chat=chat, kind=kind, started_by=user, started_at=now)
    member_ids = selectors.chat_member_ids(chat=chat)
    CallParticipant.objects.bulk_create(
        [
            CallParticipant(
                call=call,
                user_id=user_id,
                state=CallParticipant.State.JOINED if user_id == user.pk else CallParticipant.State.INVITED,
                joined_at=now if user_id == user.pk else None,
                video_enabled=kind == Call.Kind.VIDEO and user_id == user.pk,
            )
            for user_id in member_ids
        ]
    )
    _audit("call.started", organization=organization, actor=actor, target=call, metadata={"chat_id": str(chat.id), "call_type": kind})
    call = _reload(call)
    data = {"call": payloads.call_payload(call), "chat": payloads.chat_brief_payload(chat), "from_user_id": str(user.pk)}
    realtime.publish_to_users(organization.id, [u for u in member_ids if u != user.pk], "call:incoming", data)
    return call


@transaction.atomic
def call_join(*, organization, actor: Actor, call_id) -> Call:
    """Join (answer) a live call of one's chat; the first answer makes a ringing call active."""
    user = actor.user
    call, participant = _call_for_change(organization=organization, user=user, call_id=call_id)
    now = clock.now()
    if participant.state != CallParticipant.State.JOINED:
        participant.state = CallParticipant.State.JOINED
        participant.joined_at = now
        participant.left_at = None
        participant.video_enabled = call.kind == Call.Kind.VIDEO
        participant.save(update_fields=["state", "joined_at", "left_at", "video_enabled"])
        if call.status == Call.Status.RINGING:
            call.status = Call.Status.ACTIVE
            call.answered_at = now
            call.save(update_fields=["status", "answered_at"])
        others = selectors.call_recipients(call=call, exclude_user_id=user.pk)
        realtime.publish_to_users(organization.id, others, "call:answered", {"call_id": str(call.id), "user_id": str(user.pk), "status": call.status})
    return _reload(call)


def _call_finish(*, call: Call, organization, actor: Actor, reason: str) -> None:
    user = actor.user
    recipients = list(call.participants.values_list("user_id", flat=True))
    now = clock.now()
    call.status = Call.Status.ENDED
    call.ended_at = now
    call.end_reason = reason
    call.save(update_fields=["status", "ended_at", "end_reason"])
    CallParticipant.objects.filter(call=call, state=CallParticipant.State.JOINED).update(state=CallParticipant.State.LEFT, left_at=now)
    _audit("call.ended", organization=organization, actor=actor, target=call, metadata={"chat_id": str(call.chat_id), "reason": reason})
    realtime.publish_to_users(
        organization.id, recipients, "call:ended", {"call_id": str(call.id), "chat_id": str(call.chat_id), "reason": reason, "ended_by": str(user.pk)}
    )


@transaction.atomic
def call_leave(*, organization, actor: Actor, call_id) -> Call:
    """Leave a call; it ends when nobody is left in it (or, in a direct chat, when one side hangs up)."""
    user = actor.user
    call, participant = _call_for_change(organization=organization, user=user, call_id=call_id)
    participant.state = CallParticipant.State.LEFT
    participant.left_at = clock.now()
    participant.screen_sharing = False
    participant.save(update_fields=["state", "left_at", "screen_sharing"])
    joined = CallParticipant.objects.filter(call=call, state=CallParticipant.State.JOINED).count()
    if joined == 0 or (call.chat.is_direct and call.status == Call.Status.ACTIVE):
        reason = "cancelled" if call.status == Call.Status.RINGING else "completed"
        _call_finish(call=call, organization=organization, actor=actor, reason=reason)
    else:
        others = selectors.call_recipients(call=call, exclude_user_id=user.pk)
        realtime.publish_to_users(organization.id, others, "call:participant_left", {"call_id": str(call.id), "user_id": str(user.pk)})
    return _reload(call)


@transaction.atomic
def call_end(*, organization, actor: Actor, call_id) -> Call:
    """End a live call for everyone in it."""
    call, _ = _call_for_change(organization=organization, user=actor.user, call_id=call_id)
    _call_finish(call=call, organization=organization, actor=actor, reason="ended")
    return _reload(call)


@transaction.atomic
def call_reject(*, organization, actor: Actor, call_id) -> Call:
    """Decline a ringing call; when everyone invited declined, it ends as `rejected`."""
    user = actor.user
    call, participant = _call_for_change(organization=organization, user=user, call_id=call_id)
    if participant.state == CallParticipant.State.JOINED:
        raise conflict("You are in this call: leave it instead.")
    participant.state = CallParticipant.State.DECLINED
    participant.save(update_fields=["state"])
    others = selectors.call_recipients(call=call, exclude_user_id=user.pk)
    realtime.publish_to_users(organization.id, others, "call:reject", {"call_id": str(call.id), "from_user_id": str(user.pk)})
    pending = CallParticipant.objects.filter(call=call, state=CallParticipant.State.INVITED).exists()
    joined = CallParticipant.objects.filter(call=call, state=CallParticipant.State.JOINED).count()
    if call.status == Call.Status.RINGING and not pending and joined <= 1:
        _call_finish(call=call, organization=organization, actor=actor, reason="rejected")
    return _reload(call)


MEDIA_FIELDS = ("audio_enabled", "video_enabled", "screen_sharing")


@transaction.atomic
def call_media_update(*, organization, actor: Actor, call_id, data: dict) -> CallParticipant:
    """Change one's media state in a call one has joined; the others are told."""
    user = actor.user
    call, participant = _call_for_change(organization=organization, user=user, call_id=call_id)
    if participant.state != CallParticipant.State.JOINED:
        raise conflict("Join the call before changing your media.")
    changed = [name for name in MEDIA_FIELDS if name in data and getattr(participant, name) != data[name]]
    for name in changed:
        setattr(participant, name, bool(data[name]))
    if changed:
        participant.save(update_fields=changed)
        others = selectors.call_recipients(call=call, exclude_user_id=user.pk)
        realtime.publish_to_users(
            organization.id,
            others,
            "call:media",
            {"call_id": str(call.id), "user_id": str(user.pk), **{name: getattr(participant, name) for name in MEDIA_FIELDS}},
        )
    participant.user = user
    return participant


def call_signal_targets(*, organization, actor: Actor, call_id, to_user_id=None) -> list[str]:
    """Whom a signalling message (offer, answer, ICE candidate) of the caller may go to.

    The caller must be invited to or in a live call of a chat they belong to; the message goes
    to `to_user_id` (who must be in the call too) or else to every other participant.
    """
    user = actor.user
    call = Call.objects.for_organization(organization).filter(id=call_id, chat__members__user=user).live().first()
    if call is None:
        raise not_found("Call not found.")
    me = CallParticipant.objects.filter(call=call, user=user, state__in=(CallParticipant.State.INVITED, CallParticipant.State.JOINED))
    if not me.exists():
        raise forbidden("You are not in this call.")
    targets = [str(user_id) for user_id in selectors.call_recipients(call=call, exclude_user_id=user.pk)]
    if to_user_id is not None:
        if str(to_user_id) not in targets:
            raise validation_error("to_user_id", "This user is not in the call.")
        return [str(to_user_id)]
    return targets
