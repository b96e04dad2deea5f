"""Permissions declared by the organizations app."""

from core.authz import declare
from core.roles import Role

ORG_READ = declare("org:read", "See the organization, its settings and stats.", roles=(Role.VIEWER,))
ORG_UPDATE = declare("org:update", "Change the organization's name, slug, website and settings.", roles=(Role.ADMIN,))
ORG_DELETE = declare("org:delete", "Delete the organization.", roles=(Role.OWNER,))
ORG_TRANSFER = declare("org:transfer", "Transfer ownership of the organization.", roles=(Role.OWNER,))
MEMBERS_READ = declare("members:read", "List members and invitations.", roles=(Role.VIEWER,))
MEMBERS_INVITE = declare("members:invite", "Invite people, resend and cancel invitations.", roles=(Role.ADMIN,))
MEMBERS_UPDATE = declare("members:update", "Change members' roles and suspend or reactivate them.", roles=(Role.ADMIN,))
MEMBERS_REMOVE = declare("members:remove", "Remove members.", roles=(Role.ADMIN,))
TEAMS_READ = declare("teams:read", "List teams and their members.", roles=(Role.VIEWER,))
TEAMS_MANAGE = declare("teams:manage", "Create, change and delete teams and their members.", roles=(Role.ADMIN,))
DOMAINS_MANAGE = declare("domains:manage", "Claim, verify and release email domains.", roles=(Role.ADMIN,))
