"""Permissions declared by the integrations app."""

from core.authz import declare
from core.roles import Role

INTEGRATIONS_READ = declare("integrations:read", "See the organization's integrations, their status and log.", roles=(Role.VIEWER,))
INTEGRATIONS_MANAGE = declare("integrations:manage", "Connect, refresh and revoke the organization's integrations.", roles=(Role.ADMIN,))
