"""Permissions declared by the audit app."""
from core.authz import declare

AUDIT_READ = declare("audit:read", "Read, verify and export the audit log.")
