"""Messaging API: chats, members, messages, read receipts and calls of the caller's organization.

The organization comes from `X-Org-ID` or the token's `org_id` claim (no org in the path).
Reads need `messaging:read`, changes `messaging:write`; within that, a chat one is not in is
404 like another org's, and the chat's own rules (admins, authors) answer 403/409.
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.exceptions import NotFound, PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_of, principal_of
from core.pagination import PageLimitPagination
from core.schema import errors
from core.serializers import body_refuse
from messaging import selectors, services
from messaging.api import serializers as s
from messaging.permissions import MESSAGING_READ, MESSAGING_WRITE
from permissions.drf import OrgScopedMixin

CHAT_TAGS = ["chats"]
CALL_TAGS = ["calls"]
ERRORS = errors(
    400,
    401,
    403,
    404,
    wording={
        403: "INSUFFICIENT_PERMISSIONS (role, chat admin or author rule) / INVALID_ORG_CONTEXT",
        404: "ORG_NOT_FOUND / NOT_FOUND (also another org's object, or a chat one is not in)",
    },
)
CONFLICT = {409: OpenApiResponse(description="CONFLICT (e.g. not possible in a direct chat, call already in progress or ended)")}
CHAT_PATH = [OpenApiParameter("chat_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Chat id")]
MESSAGE_PATH = CHAT_PATH + [OpenApiParameter("message_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Message id")]
MEMBER_PATH = CHAT_PATH + [OpenApiParameter("user_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="User id of the member")]
CALL_PATH = [OpenApiParameter("call_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="Call id")]


class MessagingView(OrgScopedMixin, APIView):
    """Base of the messaging views: reads need messaging:read, writes messaging:write; members only."""

    required_permissions = {
        "GET": MESSAGING_READ,
        "POST": MESSAGING_WRITE,
        "PUT": MESSAGING_WRITE,
        "PATCH": MESSAGING_WRITE,
        "DELETE": MESSAGING_WRITE,
    }

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        if request.method != "OPTIONS" and principal_of(request).is_api_key:
            # Chats are between people: an API key has no seat in one.
            raise PermissionDenied("Messaging needs a signed-in member, not an API key.")

    def chat_or_404(self, chat_id):
        chat = selectors.chat_get(organization=self.organization, user=self.request.user, chat_id=chat_id)
        if chat is None:
            raise NotFound("Chat not found.")
        return chat

    def chat_response(self, chat_id, status_code=status.HTTP_200_OK) -> Response:
        return Response(s.ChatSerializer(self.chat_or_404(chat_id)).data, status=status_code)

    def call_or_404(self, call_id):
        call = selectors.call_get(organization=self.organization, user=self.request.user, call_id=call_id)
        if call is None:
            raise NotFound("Call not found.")
        return call

    def service_kwargs(self) -> dict:
        return {"organization": self.organization, "actor": actor_of(self.request)}


def _validated(serializer_class, data, **kwargs) -> dict:
    serializer = serializer_class(data=data, **kwargs)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


# --- chats ------------------------------------------------------------------------------------


class ChatListView(MessagingView):
    @extend_schema(
        parameters=[
            OpenApiParameter("page", OpenApiTypes.INT, OpenApiParameter.QUERY, description=PageLimitPagination.page_query_description),
            OpenApiParameter("limit", OpenApiTypes.INT, OpenApiParameter.QUERY, description=PageLimitPagination.page_size_query_description),
        ],
        responses={200: s.ChatPageSerializer, **ERRORS},
        tags=CHAT_TAGS,
        operation_id="chats_list",
    )
    def get(self, request):
        """My chats in the organization, most recently active first, each with its last message and my unread count."""
        paginator = PageLimitPagination()
        page = paginator.paginate_queryset(selectors.chat_list(organization=self.organization, user=request.user), request, view=self)
        chats = selectors.last_messages_attach(page)
        return paginator.get_paginated_response(s.ChatSerializer(chats, many=True).data)

    @extend_schema(
        request=s.ChatCreateSerializer,
        responses={
            201: s.ChatSerializer,
            200: OpenApiResponse(s.ChatSerializer, description="The direct chat with that member, which already existed"),
            **ERRORS,
        },
        tags=CHAT_TAGS,
        operation_id="chats_create",
    )
    def post(self, request):
        """Create a direct chat (one per pair: the existing one is returned, 200) or a group chat (201)."""
        data = _validated(s.ChatCreateSerializer, request.data)
        chat, created = services.chat_create(
            **self.service_kwargs(), kind=data["type"], member_ids=data["member_ids"], name=data["name"], description=data["description"]
        )
        return self.chat_response(chat.id, status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class ChatDetailView(MessagingView):
    @extend_schema(parameters=CHAT_PATH, responses={200: s.ChatSerializer, **ERRORS}, tags=CHAT_TAGS, operation_id="chats_retrieve")
    def get(self, request, chat_id):
        """One of my chats, with its members, last message and my unread count."""
        return self.chat_response(chat_id)

    @extend_schema(
        parameters=CHAT_PATH,
        request=s.ChatUpdateSerializer,
        responses={200: s.ChatSerializer, **ERRORS, **CONFLICT},
        tags=CHAT_TAGS,
        operation_id="chats_update",
    )
    def put(self, request, chat_id):
        """Rename or describe a group chat (its admins only)."""
        return self._update(request, chat_id)

    @extend_schema(
        parameters=CHAT_PATH,
        request=s.ChatUpdateSerializer,
        responses={200: s.ChatSerializer, **ERRORS, **CONFLICT},
        tags=CHAT_TAGS,
        operation_id="chats_partial_update",
    )
    def patch(self, request, chat_id):
        """Rename or describe a group chat (its admins only)."""
        return self._update(request, chat_id)

    def _update(self, request, chat_id):
        data = _validated(s.ChatUpdateSerializer, request.data)
        services.chat_update(**self.service_kwargs(), chat_id=chat_id, data=data)
        return self.chat_response(chat_id)

    @extend_schema(parameters=CHAT_PATH, responses={204: None, **ERRORS}, tags=CHAT_TAGS, operation_id="chats_destroy")
    def delete(self, request, chat_id):
        """Delete a chat and its messages (a group chat's admins; either member of a direct chat)."""
        body_refuse(request)
        services.chat_delete(**self.service_kwargs(), chat_id=chat_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatMembersView(MessagingView):
    @extend_schema(
        parameters=CHAT_PATH,
        request=s.ChatMembersAddSerializer,
        responses={200: s.ChatMembersAddedSerializer, **ERRORS, **CONFLICT},
        tags=CHAT_TAGS,
        operation_id="chats_members_add",
    )
    def post(self, request, chat_id):
        """Add active members of the organization to a group chat (its admins only)."""
        data = _validated(s.ChatMembersAddSerializer, request.data)
        added = services.chat_members_add(**self.service_kwargs(), chat_id=chat_id, member_ids=data["member_ids"])
        return Response({"added": added, "chat": s.ChatSerializer(self.chat_or_404(chat_id)).data})


class ChatMemberDetailView(MessagingView):
    @extend_schema(parameters=MEMBER_PATH, responses={204: None, **ERRORS, **CONFLICT}, tags=CHAT_TAGS, operation_id="chats_members_remove")
    def delete(self, request, chat_id, user_id):
        """Remove a member from a group chat (its admins only; one's own id means leaving)."""
        body_refuse(request)
        services.chat_member_remove(**self.service_kwargs(), chat_id=chat_id, user_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatLeaveView(MessagingView):
    # Leaving only takes oneself out: whoever may see the chat may leave it.
    required_permissions = {"POST": MESSAGING_READ}

    @extend_schema(parameters=CHAT_PATH, request=None, responses={204: None, **ERRORS, **CONFLICT}, tags=CHAT_TAGS, operation_id="chats_leave")
    def post(self, request, chat_id):
        """Leave a group chat (a direct chat is deleted instead)."""
        body_refuse(request)
        services.chat_leave(**self.service_kwargs(), chat_id=chat_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ChatReadView(MessagingView):
    # Read receipts are the reader's own state: a viewer marks what they read too.
    required_permissions = {"POST": MESSAGING_READ}

    @extend_schema(
        parameters=CHAT_PATH, request=s.ChatReadSerializer, responses={200: s.ChatReadStateSerializer, **ERRORS}, tags=CHAT_TAGS, operation_id="chats_read"
    )
    def post(self, request, chat_id):
        """Mark the chat read up to a message (default: its newest); it never moves backwards."""
        data = _validated(s.ChatReadSerializer, request.data)
        membership, unread = services.chat_mark_read(**self.service_kwargs(), chat_id=chat_id, message_id=data["message_id"])
        return Response({"chat_id": membership.chat_id, "last_read_seq": membership.last_read_seq, "unread_count": unread})


# --- messages ---------------------------------------------------------------------------------


class MessageListView(MessagingView):
    @extend_schema(
        parameters=CHAT_PATH + [s.ChatMessageQuerySerializer],
        responses={200: s.ChatMessagePageSerializer, **ERRORS},
        tags=CHAT_TAGS,
        operation_id="chats_messages_list",
    )
    def get(self, request, chat_id):
        """The chat's messages, newest first, by keyset: `?limit=`, then `?cursor=<next_cursor>` for older ones."""
        query = _validated(s.ChatMessageQuerySerializer, request.query_params)
        chat = self.chat_or_404(chat_id)
        messages, next_cursor = selectors.message_page(chat=chat, cursor=query["cursor"], limit=query["limit"])
        return Response({"data": s.ChatMessageSerializer(messages, many=True).data, "next_cursor": next_cursor})

    @extend_schema(
        parameters=CHAT_PATH,
        request=s.ChatMessageCreateSerializer,
        responses={201: s.ChatMessageSerializer, **ERRORS},
        tags=CHAT_TAGS,
        operation_id="chats_messages_create",
    )
    def post(self, request, chat_id):
        """Send a message to the chat; its members get `message:new`."""
        data = _validated(s.ChatMessageCreateSerializer, request.data)
        message = services.message_send(**self.service_kwargs(), chat_id=chat_id, content=data["content"], message_type=data["message_type"])
        return Response(s.ChatMessageSerializer(message).data, status=status.HTTP_201_CREATED)


class MessageDetailView(MessagingView):
    @extend_schema(
        parameters=MESSAGE_PATH,
        request=s.ChatMessageEditSerializer,
        responses={200: s.ChatMessageSerializer, **ERRORS, **CONFLICT},
        tags=CHAT_TAGS,
        operation_id="chats_messages_update",
    )
    def put(self, request, chat_id, message_id):
        """Edit one's own message."""
        return self._edit(request, chat_id, message_id)

    @extend_schema(
        parameters=MESSAGE_PATH,
        request=s.ChatMessageEditSerializer,
        responses={200: s.ChatMessageSerializer, **ERRORS, **CONFLICT},
        tags=CHAT_TAGS,
        operation_id="chats_messages_partial_update",
    )
    def patch(self, request, chat_id, message_id):
        """Edit one's own message."""
        return self._edit(request, chat_id, message_id)

    def _edit(self, request, chat_id, message_id):
        data = _validated(s.ChatMessageEditSerializer, request.data)
        message = services.message_edit(**self.service_kwargs(), chat_id=chat_id, message_id=message_id, content=data["content"])
        return Response(s.ChatMessageSerializer(message).data)

    @extend_schema(parameters=MESSAGE_PATH, responses={204: None, **ERRORS}, tags=CHAT_TAGS, operation_id="chats_messages_destroy")
    def delete(self, request, chat_id, message_id):
        """Delete a message (its author or a chat admin): it stays in the history as deleted, without its text."""
        body_refuse(request)
        services.message_delete(**self.service_kwargs(), chat_id=chat_id, message_id=message_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


# --- calls ------------------------------------------------------------------------------------


class CallStartView(MessagingView):
    @extend_schema(
        parameters=CHAT_PATH, request=s.CallStartSerializer, responses={201: s.CallSerializer, **ERRORS, **CONFLICT}, tags=CALL_TAGS, operation_id="calls_start"
    )
    def post(self, request, chat_id):
        """Start an audio or video call in one of my chats; the other members get `call:incoming`."""
        data = _validated(s.CallStartSerializer, request.data)
        call = services.call_start(**self.service_kwargs(), chat_id=chat_id, kind=data["call_type"])
        return Response(s.CallSerializer(call).data, status=status.HTTP_201_CREATED)


class CallActiveView(MessagingView):
    @extend_schema(parameters=CHAT_PATH, responses={200: s.CallSerializer, **ERRORS}, tags=CALL_TAGS, operation_id="calls_active")
    def get(self, request, chat_id):
        """The chat's ringing or active call (404 when there is none)."""
        call = selectors.call_active(chat=self.chat_or_404(chat_id))
        if call is None:
            raise NotFound("This chat has no call in progress.")
        return Response(s.CallSerializer(call).data)


class CallDetailView(MessagingView):
    @extend_schema(parameters=CALL_PATH, responses={200: s.CallSerializer, **ERRORS}, tags=CALL_TAGS, operation_id="calls_retrieve")
    def get(self, request, call_id):
        """One call of one of my chats, with its participants and their media state."""
        return Response(s.CallSerializer(self.call_or_404(call_id)).data)


class CallJoinView(MessagingView):
    @extend_schema(parameters=CALL_PATH, request=None, responses={200: s.CallSerializer, **ERRORS, **CONFLICT}, tags=CALL_TAGS, operation_id="calls_join")
    def post(self, request, call_id):
        """Join (answer) a call; the others get `call:answered`."""
        body_refuse(request)
        return Response(s.CallSerializer(services.call_join(**self.service_kwargs(), call_id=call_id)).data)


class CallLeaveView(MessagingView):
    @extend_schema(parameters=CALL_PATH, request=None, responses={204: None, **ERRORS, **CONFLICT}, tags=CALL_TAGS, operation_id="calls_leave")
    def post(self, request, call_id):
        """Leave a call; the last one out (or either side of a direct call) ends it."""
        body_refuse(request)
        services.call_leave(**self.service_kwargs(), call_id=call_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class CallEndView(MessagingView):
    @extend_schema(parameters=CALL_PATH, request=None, responses={200: s.CallSerializer, **ERRORS, **CONFLICT}, tags=CALL_TAGS, operation_id="calls_end")
    def post(self, request, call_id):
        """End a call for everyone; they get `call:ended`."""
        body_refuse(request)
        return Response(s.CallSerializer(services.call_end(**self.service_kwargs(), call_id=call_id)).data)


class CallRejectView(MessagingView):
    @extend_schema(parameters=CALL_PATH, request=None, responses={200: s.CallSerializer, **ERRORS, **CONFLICT}, tags=CALL_TAGS, operation_id="calls_reject")
    def post(self, request, call_id):
        """Decline a ringing call; once everyone invited declined, it ends as `rejected`."""
        body_refuse(request)
        return Response(s.CallSerializer(services.call_reject(**self.service_kwargs(), call_id=call_id)).data)


class CallMediaView(MessagingView):
    @extend_schema(
        parameters=CALL_PATH,
        request=s.CallMediaSerializer,
        responses={200: s.CallParticipantSerializer, **ERRORS, **CONFLICT},
        tags=CALL_TAGS,
        operation_id="calls_media_update",
    )
    def put(self, request, call_id):
        """Set my media state in a call I joined (muted, camera, screen sharing); the others get `call:media`."""
        return self._media(request, call_id)

    @extend_schema(
        parameters=CALL_PATH,
        request=s.CallMediaSerializer,
        responses={200: s.CallParticipantSerializer, **ERRORS, **CONFLICT},
        tags=CALL_TAGS,
        operation_id="calls_media_partial_update",
    )
    def patch(self, request, call_id):
        """Set my media state in a call I joined (muted, camera, screen sharing); the others get `call:media`."""
        return self._media(request, call_id)

    def _media(self, request, call_id):
        data = _validated(s.CallMediaSerializer, request.data)
        participant = services.call_media_update(**self.service_kwargs(), call_id=call_id, data=data)
        return Response(s.CallParticipantSerializer(participant).data)
