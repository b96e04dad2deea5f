"""The org's billing row (locked for every change), its owner, and its Stripe customer."""

from django.db import IntegrityError, transaction
from djstripe import models as dj

from audit.services import event_record
from billing import gateway
from billing.models import Subscription
from billing.services.plans import plan_free_ensure
from core.actor import Actor
from core.roles import Role
from organizations.models import Membership


def account_for_update(*, organization) -> Subscription:
    """Lock the org's billing row (creating it on the free plan): its changes apply one at a time."""
    account = Subscription.objects.select_for_update().filter(organization=organization).first()
    if account is not None:
        return account
    try:
        with transaction.atomic():
            Subscription.objects.create(organization=organization, plan=plan_free_ensure())
    except IntegrityError:
        pass  # created concurrently: lock that one
    return Subscription.objects.select_for_update().get(organization=organization)


def organization_owner(organization):
    """The org's owner (None while ownership is vacant)."""
    membership = Membership.objects.select_related("user").filter(organization=organization, role=Role.OWNER).first()
    return membership.user if membership else None


def customer_ensure(*, account: Subscription, actor: Actor) -> str:
    """The org's Stripe customer id, creating the customer (once) the first time it is needed."""
    if account.stripe_customer_id:
        return account.stripe_customer_id
    organization = account.organization
    owner = organization_owner(organization)
    with gateway.errors():
        customer = gateway.customer_create(organization_id=str(organization.id), name=organization.name, email=getattr(owner, "email", None))
        dj.Customer.sync_from_stripe_data(customer, api_key=gateway.api_key())
    account.stripe_customer_id = customer["id"]
    account.save(update_fields=["stripe_customer_id", "updated_at"])
    event_record(
        action="billing_customer.created",
        actor=actor,
        organization_id=organization.id,
        target_type="stripe_customer",
        target_id=customer["id"],
    )
    return customer["id"]
