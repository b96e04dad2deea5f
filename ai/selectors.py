"""Reads of AI chat: conversations are private to their user inside one organization."""

from django.db.models import QuerySet

from ai.models import Conversation, Message
from core import clock, entitlements

# The usage key billing meters AI chat under (and the plan limit it is measured against).
METRIC = "ai_requests"
LIMIT = "ai_requests_per_month"
# Earlier messages sent to the provider with each request (the newest ones).
HISTORY_MESSAGES = 40


def conversation_list(*, organization, user) -> QuerySet[Conversation]:
    """The user's conversations in the organization, most recently active first."""
    return Conversation.objects.for_organization(organization).of_user(user).order_by("-updated_at", "-id")


def conversation_get(*, organization, user, conversation_id) -> Conversation | None:
    """One of the user's conversations, or None (someone else's, or another org's, is simply not found)."""
    return conversation_list(organization=organization, user=user).filter(id=conversation_id).first()


def message_list(*, conversation: Conversation) -> QuerySet[Message]:
    """A conversation's messages, oldest first."""
    return Message.objects.filter(conversation=conversation).order_by("created_at", "id")


def history_for_provider(*, conversation: Conversation) -> list[dict]:
    """The newest messages of a conversation as OpenAI-style `{role, content}` (empty replies left out)."""
    newest = message_list(conversation=conversation).exclude(content="").order_by("-created_at", "-id")
    rows = list(newest.values_list("role", "content")[:HISTORY_MESSAGES])
    return [{"role": role, "content": content} for role, content in reversed(rows)]


def _month_start():
    return clock.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def usage_summary(*, organization) -> dict:
    """This month's AI requests of the organization against its plan's allowance (None = unlimited)."""
    used = entitlements.used(organization, METRIC)
    if used is None:
        # Nothing meters AI (billing absent): count the prompts sent this month instead.
        used = Message.objects.filter(conversation__organization=organization, role=Message.Role.USER, created_at__gte=_month_start()).count()
    limit = entitlements.limit_of(organization, LIMIT)
    return {
        "used": used,
        "limit": limit,
        "remaining": None if limit is None else max(limit - used, 0),
        "period_start": _month_start().date(),
    }


def user_export(*, user) -> dict:
    """The `core.hooks.user_export` contribution: the user's AI conversations with their messages."""
    conversations = Conversation.objects.filter(user=user).order_by("created_at").prefetch_related("messages")
    return {
        "ai_conversations": [
            {
                "id": str(c.id),
                "organization_id": str(c.organization_id),
                "title": c.title,
                "model": c.model,
                "created_at": c.created_at,
                "messages": [
                    {"role": m.role, "content": m.content, "model": m.model, "status": m.status, "created_at": m.created_at} for m in c.messages.all()
                ],
            }
            for c in conversations
        ]
    }
