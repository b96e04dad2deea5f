"""Drop the cached org context (organizations.context) whenever a membership or an org changes."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from organizations.context import context_forget
from organizations.models import Membership, Organization


@receiver([post_save, post_delete], sender=Membership, dispatch_uid="orgctx-membership")
def membership_changed(sender, instance: Membership, **kwargs) -> None:
    """A role, status or profile change, a new or removed member: that member's cached context goes."""
    context_forget(organization_id=instance.organization_id, user_id=instance.user_id)


@receiver([post_save, post_delete], sender=Organization, dispatch_uid="orgctx-organization")
def organization_changed(sender, instance: Organization, **kwargs) -> None:
    """Any change of the org row (settings, plan, name, deletion) drops its cached copy."""
    context_forget(organization_id=instance.id)
