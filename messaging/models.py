"""Messaging: an organization's chats (direct and group), their members and messages, and calls."""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q

from core import clock
from core.models import OrgScopedQuerySet
from organizations.models import Organization


class ChatQuerySet(OrgScopedQuerySet):
    def for_member(self, user):
        return self.filter(members__user=user)


class Chat(models.Model):
    """A conversation inside one organization: `direct` (exactly two people) or `group`."""

    class Kind(models.TextChoices):
        DIRECT = "direct"
        GROUP = "group"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="chats")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    name = models.CharField(max_length=120, blank=True, default="")
    description = models.TextField(blank=True, default="")
    # "<smaller user id>:<larger user id>" for a direct chat: one direct chat per pair per org.
    direct_key = models.CharField(max_length=80, null=True, blank=True, editable=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # The last message's sequence number (messages are numbered 1, 2, ... per chat under a row lock).
    last_seq = models.PositiveBigIntegerField(default=0)
    last_message_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=clock.now)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ChatQuerySet.as_manager()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "direct_key"], condition=Q(kind="direct"), name="chat_one_direct_per_pair"),
        ]
        indexes = [models.Index(fields=["organization", "-last_message_at"], name="chat_org_last_message")]

    def __str__(self) -> str:
        return self.name or f"{self.kind} chat {self.id}"

    @property
    def is_direct(self) -> bool:
        return self.kind == self.Kind.DIRECT


def direct_key_of(user_ids) -> str:
    """The pair key of a direct chat, the same whichever member is named first."""
    return ":".join(sorted(str(user_id) for user_id in user_ids))


class ChatMember(models.Model):
    """One user's membership of a chat, with their role in it and how far they have read."""

    class Role(models.TextChoices):
        ADMIN = "admin"
        MEMBER = "member"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.MEMBER)
    # Read receipts: every message with seq <= last_read_seq has been read by this member.
    last_read_seq = models.PositiveBigIntegerField(default=0)
    joined_at = models.DateTimeField(default=clock.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chat", "user"], name="chat_member_once")]
        indexes = [models.Index(fields=["user", "chat"], name="chat_member_user")]

    def __str__(self) -> str:
        return f"{self.user_id} in {self.chat_id}"


class Message(models.Model):
    """One message of a chat; deleting it keeps the row (soft delete) so the sequence stays whole."""

    class Type(models.TextChoices):
        TEXT = "TEXT"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="messages")
    seq = models.PositiveBigIntegerField()
    sender = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message_type = models.CharField(max_length=10, choices=Type.choices, default=Type.TEXT)
    content = models.TextField()
    created_at = models.DateTimeField(default=clock.now)
    edited_at = models.DateTimeField(null=True, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["chat", "seq"], name="message_seq_per_chat")]

    def __str__(self) -> str:
        return f"message {self.seq} of {self.chat_id}"

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class CallQuerySet(OrgScopedQuerySet):
    def live(self):
        return self.exclude(status=Call.Status.ENDED)


class Call(models.Model):
    """An audio or video call in a chat; the server relays signalling, it never carries media."""

    class Kind(models.TextChoices):
        AUDIO = "audio"
        VIDEO = "video"

    class Status(models.TextChoices):
        RINGING = "ringing"
        ACTIVE = "active"
        ENDED = "ended"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="calls")
    chat = models.ForeignKey(Chat, on_delete=models.CASCADE, related_name="calls")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RINGING)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    started_at = models.DateTimeField(default=clock.now)
    answered_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=20, blank=True, default="")

    objects = CallQuerySet.as_manager()

    class Meta:
        constraints = [
            # One ringing/active call per chat at a time.
            models.UniqueConstraint(fields=["chat"], condition=~Q(status="ended"), name="call_one_live_per_chat"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} call {self.id}"


class CallParticipant(models.Model):
    """A chat member's part in a call and their media state."""

    class State(models.TextChoices):
        INVITED = "invited"
        JOINED = "joined"
        LEFT = "left"
        DECLINED = "declined"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    call = models.ForeignKey(Call, on_delete=models.CASCADE, related_name="participants")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=10, choices=State.choices, default=State.INVITED)
    audio_enabled = models.BooleanField(default=True)
    video_enabled = models.BooleanField(default=False)
    screen_sharing = models.BooleanField(default=False)
    joined_at = models.DateTimeField(null=True, blank=True)
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["call", "user"], name="call_participant_once")]

    def __str__(self) -> str:
        return f"{self.user_id} in call {self.call_id}"
