"""The permissions premium routes require: premium declares none, it reuses the catalog's.

Analytics summarise the audit log (events per day) beside member, invite and API-key counts, so
they are for whoever may read the audit log (admin and owner by default); the white label is
part of the org's settings, read and changed with them.
"""

from audit.permissions import AUDIT_READ
from organizations.permissions import ORG_READ, ORG_UPDATE
from organizations.services import WHITE_LABEL_FEATURE

ANALYTICS_READ = AUDIT_READ
WHITE_LABEL_READ = ORG_READ
WHITE_LABEL_UPDATE = ORG_UPDATE

# Plan feature flags (billing's catalog) the routes need.
ADVANCED_ANALYTICS = "advanced_analytics"
WHITE_LABEL = WHITE_LABEL_FEATURE
