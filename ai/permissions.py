"""Permissions declared by the AI chat app, and its DRF permission class."""

from rest_framework.permissions import BasePermission

from core.actor import principal_of
from core.authz import declare
from core.roles import Role

AI_USE = declare(
    "ai:use",
    "Chat with the AI assistant (each request counts against the plan's monthly AI allowance).",
    roles=(Role.MEMBER,),
)


class IsMemberNotApiKey(BasePermission):
    """Conversations belong to a person: an API key (no user behind it) cannot chat."""

    message = "AI chat needs a signed-in member; API keys cannot hold conversations."

    def has_permission(self, request, view) -> bool:
        return not principal_of(request).is_api_key
