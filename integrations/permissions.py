"""Permissions declared by the integrations app."""
from core.authz import declare

INTEGRATIONS_READ = declare("integrations:read", "See the organization's integrations, their status and log.")
INTEGRATIONS_MANAGE = declare("integrations:manage", "Connect, refresh and revoke the organization's integrations.")
