"""Permissions declared by the messaging app."""

from core.authz import declare
from core.roles import Role

MESSAGING_READ = declare(
    "messaging:read",
    "See the chats one belongs to and their messages, mark them read, leave a chat, see a chat's call, connect to the WebSocket.",
    roles=(Role.VIEWER,),
)
MESSAGING_WRITE = declare(
    "messaging:write",
    "Create and manage chats, send, edit and delete messages, start, join and end calls.",
    roles=(Role.MEMBER,),
)
