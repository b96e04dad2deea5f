"""Writes of the premium routes: the org's white label (kept in its settings, audited there)."""

from django.db import transaction

from core import entitlements
from core.actor import Actor
from organizations.models import Organization
from organizations.services import WHITE_LABEL_FEATURE, WHITE_LABEL_KEYS, organization_settings_update


@transaction.atomic
def white_label_update(*, organization: Organization, actor: Actor, values: dict) -> dict:
    """Replace the org's white label (an absent, null or blank value removes that key); needs the plan feature `white_label`.

    The values go through the org's settings service: one validation, one audit event
    (`org.settings_updated`, with the changed keys), one gate for this route and `PATCH orgs/{id}/settings`.
    """
    entitlements.require_feature(organization, WHITE_LABEL_FEATURE)
    settings = organization_settings_update(organization=organization, actor=actor, settings={key: values.get(key) or None for key in WHITE_LABEL_KEYS})
    return {key: settings.get(key) for key in WHITE_LABEL_KEYS}
