"""Messaging routes, mounted under /api/v1/ (org context from X-Org-ID or the token).

The prefixes are part of each route, as for notifications: OptionalTrailingSlashMiddleware
strips the trailing slash, so a root declared as `chats/` + `""` could never match.
"""

from django.urls import path

from messaging.api import views

app_name = "messaging"

urlpatterns = [
    path("chats", views.ChatListView.as_view(), name="chats"),
    path("chats/<uuid:chat_id>", views.ChatDetailView.as_view(), name="chat-detail"),
    path("chats/<uuid:chat_id>/members", views.ChatMembersView.as_view(), name="chat-members"),
    path("chats/<uuid:chat_id>/members/<uuid:user_id>", views.ChatMemberDetailView.as_view(), name="chat-member-detail"),
    path("chats/<uuid:chat_id>/leave", views.ChatLeaveView.as_view(), name="chat-leave"),
    path("chats/<uuid:chat_id>/read", views.ChatReadView.as_view(), name="chat-read"),
    path("chats/<uuid:chat_id>/messages", views.MessageListView.as_view(), name="chat-messages"),
    path("chats/<uuid:chat_id>/messages/<uuid:message_id>", views.MessageDetailView.as_view(), name="chat-message-detail"),
    path("calls/chats/<uuid:chat_id>", views.CallStartView.as_view(), name="call-start"),
    path("calls/chats/<uuid:chat_id>/active", views.CallActiveView.as_view(), name="call-active"),
    path("calls/<uuid:call_id>", views.CallDetailView.as_view(), name="call-detail"),
    path("calls/<uuid:call_id>/join", views.CallJoinView.as_view(), name="call-join"),
    path("calls/<uuid:call_id>/leave", views.CallLeaveView.as_view(), name="call-leave"),
    path("calls/<uuid:call_id>/end", views.CallEndView.as_view(), name="call-end"),
    path("calls/<uuid:call_id>/reject", views.CallRejectView.as_view(), name="call-reject"),
    path("calls/<uuid:call_id>/media", views.CallMediaView.as_view(), name="call-media"),
]
