"""AI chat history: a member's conversations in an organization and their messages."""

import uuid

from django.conf import settings
from django.db import models

from core import clock
from core.models import OrgScopedQuerySet


class ConversationQuerySet(OrgScopedQuerySet):
    def of_user(self, user):
        return self.filter(user=user)


class Conversation(models.Model):
    """One chat thread of a user inside an organization (private to that user)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    organization = models.ForeignKey("organizations.Organization", on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    title = models.CharField(max_length=200)
    model = models.CharField(max_length=200, help_text="Model of the latest request.")
    created_at = models.DateTimeField(default=clock.now, editable=False)
    updated_at = models.DateTimeField(default=clock.now)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated_at", "-id"]
        indexes = [models.Index(fields=["organization", "user", "-updated_at"], name="ai_conv_org_user_updated")]

    def __str__(self) -> str:
        return self.title


class Message(models.Model):
    """One turn of a conversation: the user's prompt or the assistant's (possibly partial) reply."""

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete"
        # The client went away mid-stream: the reply so far is kept.
        INTERRUPTED = "interrupted"
        # The provider failed; content holds whatever arrived before the failure.
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True, default="")
    model = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    created_at = models.DateTimeField(default=clock.now, editable=False)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["conversation", "created_at"], name="ai_message_conv_created")]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"
