"""WebSocket routes (mounted by config/asgi.py)."""

from django.urls import re_path

from messaging.consumers import MessagingConsumer

websocket_urlpatterns = [
    re_path(r"^ws/?$", MessagingConsumer.as_asgi()),
]
