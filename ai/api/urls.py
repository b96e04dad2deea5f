"""AI chat routes, mounted under /api/v1/ai/ (org context from X-Org-ID or the token's active org)."""

from django.urls import path

from ai.api import views

app_name = "ai"

urlpatterns = [
    path("models", views.ModelListView.as_view(), name="models"),
    path("chat", views.ChatView.as_view(), name="chat"),
    path("chat/stream", views.ChatStreamView.as_view(), name="chat-stream"),
    path("usage", views.UsageView.as_view(), name="usage"),
    path("conversations", views.ConversationListView.as_view(), name="conversations"),
    path("conversations/<uuid:conversation_id>", views.ConversationDetailView.as_view(), name="conversation-detail"),
]
