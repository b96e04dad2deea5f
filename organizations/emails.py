"""Organization emails: the templates under `organizations/email/`, sent by `core.emails.email_send`."""

from django.conf import settings

from core import entitlements
from core.emails import email_send
from organizations.models import Invite, Organization
from organizations.services import WHITE_LABEL_FEATURE, WHITE_LABEL_KEYS


def organization_branding(*, organization: Organization) -> dict:
    """The org's white-label values for its e-mails: empty unless its plan has `white_label` (values kept after a downgrade stay unused)."""
    if not entitlements.has_feature(organization, WHITE_LABEL_FEATURE):
        return {}
    return {key: value for key in WHITE_LABEL_KEYS if (value := organization.settings.get(key))}


def invite_email_send(*, invite: Invite, code: str) -> None:
    """Send the link that opens an invitation (in the org's white label when its plan has one)."""
    link = f"{settings.FRONTEND_URL}/join/{code}"
    inviter = invite.invited_by
    brand = organization_branding(organization=invite.organization)
    email_send(
        to=invite.email,
        template="organizations/email/invite",
        context={
            "invite": invite,
            "organization": invite.organization,
            "inviter_name": (inviter.full_name or inviter.email) if inviter else "",
            "link": link,
            # The templates autoescape these in HTML; the colour and logo were validated (#rrggbb, https) when set.
            "brand": brand,
            "company_name": brand.get("company_name") or invite.organization.name,
        },
        from_name=brand.get("email_from_name", ""),
    )
