"""Permissions declared by the messaging app (built-in roles get them in permissions/engine.py)."""
from core.authz import declare

MESSAGING_READ = declare(
    "messaging:read",
    "See the chats one belongs to and their messages, mark them read, leave a chat, see a chat's call, connect to the WebSocket.",
)
MESSAGING_WRITE = declare(
    "messaging:write",
    "Create and manage chats, send, edit and delete messages, start, join and end calls.",
)
