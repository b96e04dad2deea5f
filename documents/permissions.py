"""Permissions declared by the documents app."""

from core.authz import declare
from core.roles import Role

DOCUMENTS_READ = declare("documents:read", "List, view and download the organization's documents.", roles=(Role.VIEWER,))
DOCUMENTS_WRITE = declare("documents:write", "Upload and delete the organization's documents.", roles=(Role.MEMBER,))
