"""Permissions declared by the permissions app, and the catalog entries of apps yet to land."""
from core.authz import declare

ROLES_MANAGE = declare("roles:manage", "Create and change custom roles, role assignments and policies.")
API_KEYS_MANAGE = declare("api_keys:manage", "Create, rotate and revoke API keys.")
