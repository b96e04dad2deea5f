"""Permissions declared by the audit app."""

from core.authz import declare
from core.roles import Role

AUDIT_READ = declare("audit:read", "Read, verify and export the audit log.", roles=(Role.ADMIN,))
