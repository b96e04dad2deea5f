"""Permissions declared by the permissions app."""

from core.authz import declare
from core.roles import Role

ROLES_MANAGE = declare("roles:manage", "Create and change custom roles, role assignments and policies.", roles=(Role.ADMIN,))
API_KEYS_MANAGE = declare("api_keys:manage", "Create, rotate and revoke API keys.", roles=(Role.ADMIN,))
