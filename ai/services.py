"""Writes of AI chat: start a turn (meter + store the prompt), get or stream the reply, delete a conversation.

Metering: one request is consumed, atomically against the plan's `ai_requests_per_month`,
before the provider is called (402 PLAN_LIMIT_REACHED when used up, and no call). It is
given back only when the provider failed without delivering any text: the member got
nothing. A reply that failed or was abandoned half way keeps its request: the provider
did the work and the partial text is stored.

Chat messages are not audited one by one: they are the member's private content (an audit
log readable by org admins must not copy it), they are high-volume, and the messages table
is itself the record. Deleting a conversation is audited.
"""

from dataclasses import dataclass, field

from django.db import transaction

from ai import selectors
from ai.models import Conversation, Message
from ai.providers import Provider, ProviderError, ProviderNotConfigured, ProviderTimeout, ai_settings, provider_get
from audit.services import event_record
from core import clock, entitlements
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, validation_error

TITLE_CHARS = 80


def not_configured_error() -> ApplicationError:
    return ApplicationError(
        code=ErrorCode.SERVICE_UNAVAILABLE,
        message="AI chat is not configured on this server (set AI_BASE_URL and AI_MODEL).",
        status_code=503,
        details={"reason": "ai_not_configured"},
    )


def provider_error(exc: ProviderError, *, conversation: Conversation) -> ApplicationError:
    """The envelope error for a provider failure: 504 on a timeout, 502 otherwise."""
    details = {"conversation_id": str(conversation.id)}
    if exc.status is not None:
        details["provider_status"] = exc.status
    # The contract's code for "a service we depend on failed"; `reason` tells the cases apart.
    if isinstance(exc, ProviderTimeout):
        details["reason"] = "provider_timeout"
        return ApplicationError(code=ErrorCode.SERVICE_UNAVAILABLE, message=str(exc), status_code=504, details=details)
    details["reason"] = "provider_error"
    return ApplicationError(code=ErrorCode.SERVICE_UNAVAILABLE, message=str(exc), status_code=502, details=details)


def model_resolve(model: str | None) -> str:
    """The model to use: the requested one when it is allowed, else the default; 503 when AI is off."""
    config = ai_settings()
    if not config.configured:
        raise not_configured_error()
    if not model:
        return config.default_model
    if model not in config.models:
        raise validation_error("model", f"Unknown model {model!r}; choose one of: {', '.join(config.models)}.")
    return model


@dataclass
class ChatTurn:
    """A prompt stored and metered, waiting for its reply."""

    organization: object
    conversation: Conversation
    prompt: Message
    model: str
    history: list[dict] = field(default_factory=list)


def chat_start(*, organization, user, message: str, conversation_id=None, model: str | None = None) -> ChatTurn:
    """Check the model, meter one request and store the prompt (committed before the provider is called)."""
    model = model_resolve(model)
    with transaction.atomic():
        conversation = None
        if conversation_id is not None:
            conversation = selectors.conversation_get(organization=organization, user=user, conversation_id=conversation_id)
            if conversation is None:
                raise ApplicationError(code=ErrorCode.NOT_FOUND, message="Conversation not found.", status_code=404)
        # Before anything is stored: an exhausted allowance leaves no trace and calls no provider.
        entitlements.consume(organization, selectors.METRIC)
        now = clock.now()
        if conversation is None:
            conversation = Conversation.objects.create(
                organization=organization, user=user, title=_title_of(message), model=model, created_at=now, updated_at=now
            )
        else:
            conversation.model, conversation.updated_at = model, now
            conversation.save(update_fields=["model", "updated_at"])
        prompt = Message.objects.create(conversation=conversation, role=Message.Role.USER, content=message, model=model, created_at=now)
    return ChatTurn(
        organization=organization,
        conversation=conversation,
        prompt=prompt,
        model=model,
        history=selectors.history_for_provider(conversation=conversation),
    )


def _title_of(message: str) -> str:
    line = " ".join(message.split())
    return line if len(line) <= TITLE_CHARS else line[: TITLE_CHARS - 1] + "…"


def reply_store(*, turn: ChatTurn, content: str, status: str, model: str | None = None) -> Message:
    """Store the assistant's reply of a turn; give the request back when the provider failed delivering nothing."""
    now = clock.now()
    with transaction.atomic():
        reply = Message.objects.create(
            conversation=turn.conversation,
            role=Message.Role.ASSISTANT,
            content=content,
            model=model or turn.model,
            status=status,
            created_at=now,
        )
        Conversation.objects.filter(id=turn.conversation.id).update(updated_at=now)
        if status == Message.Status.FAILED and not content:
            entitlements.release(turn.organization, selectors.METRIC)
    return reply


def _provider() -> Provider:
    try:
        return provider_get()
    except ProviderNotConfigured:
        raise not_configured_error() from None


def chat_reply(*, turn: ChatTurn) -> Message:
    """Ask the provider for the whole reply and store it; 502/504 (request given back) when it fails."""
    try:
        completion = _provider().complete(model=turn.model, messages=turn.history)
    except ProviderError as exc:
        reply_store(turn=turn, content="", status=Message.Status.FAILED)
        raise provider_error(exc, conversation=turn.conversation) from exc
    return reply_store(turn=turn, content=completion.content, status=Message.Status.COMPLETE, model=completion.model)


def chat_stream(*, turn: ChatTurn) -> "ChatReplyStream":
    """Open the provider's stream; a failure before it starts is a 502/504 here (request given back)."""
    try:
        upstream = _provider().stream(model=turn.model, messages=turn.history)
    except ProviderError as exc:
        reply_store(turn=turn, content="", status=Message.Status.FAILED)
        raise provider_error(exc, conversation=turn.conversation) from exc
    return ChatReplyStream(turn=turn, upstream=upstream)


class ChatReplyStream:
    """The reply's text pieces as they arrive; whatever ends it, what came so far is stored exactly once.

    Iterating raises ApplicationError (502/504) when the provider fails mid-stream. close() is
    always called by the server when the response ends, including when the client went away.
    """

    def __init__(self, *, turn: ChatTurn, upstream):
        self.turn = turn
        self._upstream = upstream
        self._parts: list[str] = []
        self._pieces = None
        self._finished = False
        self.reply: Message | None = None

    def __iter__(self):
        if self._pieces is None:
            self._pieces = self._read()
        return self._pieces

    def _read(self):
        try:
            for piece in self._upstream:
                self._parts.append(piece)
                yield piece
        except ProviderError as exc:
            self._finish(Message.Status.FAILED)
            raise provider_error(exc, conversation=self.turn.conversation) from exc
        self._finish(Message.Status.COMPLETE)

    def close(self) -> None:
        """Stop reading: the reply so far is stored as interrupted (unless it already ended)."""
        if self._pieces is not None:
            self._pieces.close()
        self._finish(Message.Status.INTERRUPTED)

    def _finish(self, status: str) -> None:
        if self._finished:
            return
        self._finished = True
        # Close upstream first: the provider stops generating for a reader who is gone.
        self._upstream.close()
        self.reply = reply_store(turn=self.turn, content="".join(self._parts), status=status)


@transaction.atomic
def conversation_delete(*, conversation: Conversation, actor: Actor) -> None:
    """Delete a conversation and its messages (audited: the history is gone for good)."""
    event_record(
        action="ai_conversation.deleted",
        actor=actor,
        organization_id=conversation.organization_id,
        target=conversation,
        target_type="ai_conversation",
        metadata={"title": conversation.title, "messages": conversation.messages.count()},
    )
    conversation.delete()
