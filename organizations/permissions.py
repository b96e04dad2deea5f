"""Permissions declared by the organizations app."""
from core.authz import declare

ORG_READ = declare("org:read", "See the organization, its settings and stats.")
ORG_UPDATE = declare("org:update", "Change the organization's name, slug, website and settings.")
ORG_DELETE = declare("org:delete", "Delete the organization.")
ORG_TRANSFER = declare("org:transfer", "Transfer ownership of the organization.")
MEMBERS_READ = declare("members:read", "List members and invitations.")
MEMBERS_INVITE = declare("members:invite", "Invite people, resend and cancel invitations.")
MEMBERS_UPDATE = declare("members:update", "Change members' roles and suspend or reactivate them.")
MEMBERS_REMOVE = declare("members:remove", "Remove members.")
TEAMS_READ = declare("teams:read", "List teams and their members.")
TEAMS_MANAGE = declare("teams:manage", "Create, change and delete teams and their members.")
DOMAINS_MANAGE = declare("domains:manage", "Claim, verify and release email domains.")
