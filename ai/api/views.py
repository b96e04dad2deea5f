"""AI chat API: models, chat (whole or streamed as Server-Sent Events), usage, and one's conversations."""

from django.core.handlers.asgi import ASGIRequest
from django.db import transaction
from django.http import StreamingHttpResponse
from django.utils.decorators import method_decorator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound
from rest_framework.response import Response
from rest_framework.views import APIView

from ai import selectors, services
from ai.api import serializers as s
from ai.api import sse
from ai.permissions import AI_USE, IsMemberNotApiKey
from ai.providers import ai_settings
from core.actor import actor_of
from core.negotiation import IgnoreAcceptNegotiation
from core.pagination import PageLimitPagination
from core.schema import errors
from core.serializers import body_refuse
from permissions.drf import HasOrgPermission, OrgScopedMixin

TAGS = ["ai"]
ERRORS = errors(400, 401, 403, 404, wording={403: "INSUFFICIENT_PERMISSIONS (no ai:use, or an API key) / INVALID_ORG_CONTEXT"})
CHAT_ERRORS = {
    **ERRORS,
    402: OpenApiResponse(description="PLAN_LIMIT_REACHED: the plan's ai_requests_per_month is used up (no provider call)"),
    502: OpenApiResponse(description="SERVICE_UNAVAILABLE (reason provider_error): the provider failed or could not be reached (the request is not counted)"),
    503: OpenApiResponse(description="SERVICE_UNAVAILABLE (reason ai_not_configured): no AI provider on this server"),
    504: OpenApiResponse(description="SERVICE_UNAVAILABLE (reason provider_timeout): the provider did not answer within AI_TIMEOUT_SECONDS (not counted)"),
}
CONVERSATION_PATH = [OpenApiParameter("conversation_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Conversation id")]
SSE_DESCRIPTION = (
    '`text/event-stream`: one `data: {"content": "..."}` event per piece of the reply, then `data: [DONE]`. '
    "A provider failure mid-stream sends one `event: error` whose data is the error envelope "
    '(`{"error": {"code", "message", "details", "request_id"}}`), then the stream ends. '
    "The `X-Conversation-ID` response header names the conversation. Errors before the stream starts "
    "are ordinary JSON error responses."
)
non_atomic = method_decorator(transaction.non_atomic_requests, name="dispatch")


class AiScoped(OrgScopedMixin):
    """Org-scoped AI route: the org comes from X-Org-ID or the token's active org; members only."""

    # HasOrgPermission answers 401 to an anonymous caller before looking at the org.
    permission_classes = [HasOrgPermission, IsMemberNotApiKey]
    required_permissions = {"GET": AI_USE, "POST": AI_USE, "DELETE": AI_USE}


class ModelListView(AiScoped, APIView):
    @extend_schema(
        responses={200: s.AiModelListSerializer, 503: CHAT_ERRORS[503], **ERRORS},
        tags=TAGS,
        operation_id="ai_models_list",
    )
    def get(self, request):
        """The models this server may use (`default` marks the one used when a request names none)."""
        config = ai_settings()
        if not config.configured:
            raise services.not_configured_error()
        return Response({"data": [{"id": m, "default": m == config.default_model} for m in config.models]})


def _turn(request, organization) -> services.ChatTurn:
    serializer = s.ChatRequestSerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    data = serializer.validated_data
    return services.chat_start(
        organization=organization,
        user=request.user,
        message=data["message"],
        conversation_id=data["conversation_id"],
        model=data["model"] or None,
    )


# Not atomic: the metered request and the prompt commit before the provider is called, and no
# database lock is held while a (slow) provider answers.
@non_atomic
class ChatView(AiScoped, APIView):
    @extend_schema(
        request=s.ChatRequestSerializer,
        responses={200: s.ChatResponseSerializer, **CHAT_ERRORS},
        tags=TAGS,
    )
    def post(self, request):
        """Send a message and get the whole reply; the conversation (new or continued) keeps both."""
        turn = _turn(request, self.organization)
        reply = services.chat_reply(turn=turn)
        return Response({"conversation_id": turn.conversation.id, "message": s.MessageSerializer(reply).data})


@non_atomic
class ChatStreamView(AiScoped, APIView):
    # A client asking for text/event-stream still gets its errors as JSON envelopes.
    content_negotiation_class = IgnoreAcceptNegotiation

    @extend_schema(
        request=s.ChatRequestSerializer,
        responses={
            (200, sse.MEDIA_TYPE): OpenApiResponse(
                s.AiStreamEventSerializer,
                description=SSE_DESCRIPTION,
                examples=[
                    OpenApiExample(
                        "reply",
                        value='data: {"content":"Hello"}\n\ndata: {"content":" there!"}\n\ndata: [DONE]\n\n',
                        media_type=sse.MEDIA_TYPE,
                    )
                ],
            ),
            **CHAT_ERRORS,
        },
        tags=TAGS,
    )
    def post(self, request):
        """Send a message and stream the reply as Server-Sent Events; the reply so far is kept whatever happens."""
        turn = _turn(request, self.organization)
        stream = services.chat_stream(turn=turn)
        body = sse.EventStreamBody(stream, request_id=getattr(request._request, "request_id", None))
        # Under ASGI a sync iterator would be buffered whole before sending: hand it an async one.
        is_asgi = isinstance(request._request, ASGIRequest)
        response = StreamingHttpResponse(sse.AsyncEventStreamBody(body) if is_asgi else body, content_type=sse.MEDIA_TYPE)
        response["Cache-Control"] = "no-cache"
        # nginx and similar proxies buffer responses unless told not to.
        response["X-Accel-Buffering"] = "no"
        response["X-Conversation-ID"] = str(turn.conversation.id)
        return response


class UsageView(AiScoped, APIView):
    @extend_schema(responses={200: s.AiUsageSerializer, **ERRORS}, tags=TAGS, operation_id="ai_usage_retrieve")
    def get(self, request):
        """This month's AI requests of the organization against the plan's allowance."""
        return Response(s.AiUsageSerializer(selectors.usage_summary(organization=self.organization)).data)


class ConversationListView(AiScoped, APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY, description=PageLimitPagination.page_query_description),
            OpenApiParameter("limit", OpenApiTypes.INT, OpenApiParameter.QUERY, description=PageLimitPagination.page_size_query_description),
        ],
        responses={200: s.ConversationPageSerializer, **ERRORS},
        tags=TAGS,
        operation_id="ai_conversations_list",
    )
    def get(self, request):
        """My conversations in this organization, most recently active first (`?page=&limit=`)."""
        paginator = PageLimitPagination()
        queryset = selectors.conversation_list(organization=self.organization, user=request.user)
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(s.ConversationSerializer(page, many=True).data)


class ConversationDetailView(AiScoped, APIView):
    def get_conversation(self, conversation_id):
        conversation = selectors.conversation_get(organization=self.organization, user=self.request.user, conversation_id=conversation_id)
        if conversation is None:
            raise NotFound("Conversation not found.")
        return conversation

    @extend_schema(parameters=CONVERSATION_PATH, responses={200: s.ConversationDetailSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, conversation_id):
        """One of my conversations with all its messages, oldest first."""
        return Response(s.ConversationDetailSerializer(self.get_conversation(conversation_id)).data)

    @extend_schema(parameters=CONVERSATION_PATH, responses={204: None, **ERRORS}, tags=TAGS)
    def delete(self, request, conversation_id):
        """Delete one of my conversations and its messages."""
        body_refuse(request)
        services.conversation_delete(conversation=self.get_conversation(conversation_id), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)
