"""Add-ons an org buys on top of its paid plan: one Stripe subscription item each (prorated), or
recorded here only for an org billed outside Stripe (manual provider)."""

from typing import Any

from django.db import transaction

from billing import gateway
from billing.models import AddOn, Subscription, SubscriptionAddOn
from billing.services.customers import account_for_update
from billing.services.state import (
    now_version,
    subscription_apply,
    subscription_change_record,
    subscription_items,
    subscription_snapshot,
)
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, not_found, validation_error

MAX_QUANTITY = 100


def _upgrade_required(add_on: AddOn) -> ApplicationError:
    return ApplicationError(
        code=ErrorCode.PLAN_UPGRADE_REQUIRED,
        message="Add-ons need a paid plan: upgrade first.",
        status_code=402,
        details={"add_on": add_on.code},
    )


def _paid_account(*, organization, add_on: AddOn) -> Subscription:
    """The org's locked billing row when it runs a paid plan (402 on free)."""
    account = account_for_update(organization=organization)
    if not account.is_entitled() or not account.provider or account.plan.is_free:
        raise _upgrade_required(add_on)
    return account


def _stripe_item_of(account: Subscription, add_on: AddOn) -> tuple[dict, dict | None]:
    """The org's Stripe subscription as Stripe has it now, and the add-on's item on it (None when absent)."""
    current = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
    _, held = subscription_items(current)
    return current, next((item for held_add_on, item in held if held_add_on.id == add_on.id), None)


@transaction.atomic
def addon_add(*, organization, code: str, quantity: int, actor: Actor) -> tuple[SubscriptionAddOn, bool]:
    """Hold `quantity` units of an add-on (buying it, or changing how many); return (holding, created)."""
    add_on = AddOn.objects.public().filter(code=code).first()
    if add_on is None:
        raise not_found("No such add-on.")
    if not 1 <= quantity <= MAX_QUANTITY:
        raise validation_error("quantity", f"Must be between 1 and {MAX_QUANTITY}.")
    account = _paid_account(organization=organization, add_on=add_on)
    if add_on.currency.lower() != account.plan.currency.lower():
        raise validation_error("code", "This add-on is sold in another currency than the plan.")
    existing = SubscriptionAddOn.objects.filter(subscription=account, add_on=add_on).first()
    audit = {"action": "subscription.add_on_added" if existing is None else "subscription.add_on_changed", "actor": actor}
    metadata = {"add_on": add_on.code, "quantity": quantity}
    if account.provider == Subscription.Provider.STRIPE:
        interval = account.interval or "month"
        price_id = add_on.stripe_price_id_for(interval)
        if not price_id:
            # Prices are created by `manage.py billing_sync_plans`.
            raise gateway.unavailable("This add-on is not available for purchase yet.")
        with gateway.errors():
            current, item = _stripe_item_of(account, add_on)
            if item is not None and int(item.get("quantity") or 1) == quantity and existing is not None:
                return existing, False
            change: dict[str, Any] = {"id": item["id"], "quantity": quantity} if item else {"price": price_id, "quantity": quantity}
            updated = gateway.as_dict(
                gateway.subscription_modify(
                    account.stripe_subscription_id,
                    items=[change],
                    proration_behavior="create_prorations",
                    metadata={"organization_id": str(organization.id)},
                )
            )
        subscription_apply(account=account, data=updated, version=now_version(), authoritative=True, metadata=metadata, always=True, **audit)
        holding = SubscriptionAddOn.objects.filter(subscription=account, add_on=add_on).first()
        if holding is None:
            raise gateway.unavailable("Stripe did not add the add-on.")
        return holding, existing is None
    if account.provider != Subscription.Provider.MANUAL:
        raise conflict("Add-ons are sold with Stripe and manual subscriptions only.")
    # Manual provider: billed outside Stripe, so the holding is recorded (and audited) here alone.
    if existing is not None and existing.quantity == quantity:
        return existing, False
    old = subscription_snapshot(account)
    if existing is None:
        holding = SubscriptionAddOn.objects.create(organization_id=account.organization_id, subscription=account, add_on=add_on, quantity=quantity)
    else:
        holding = existing
        holding.quantity = quantity
        holding.save(update_fields=["quantity", "updated_at"])
    subscription_change_record(account=account, old=old, metadata=metadata, always=True, **audit)
    return holding, existing is None


@transaction.atomic
def addon_remove(*, organization, code: str, actor: Actor) -> None:
    """Stop holding an add-on (at Stripe: the item is deleted, prorated)."""
    account = account_for_update(organization=organization)
    holding = SubscriptionAddOn.objects.select_related("add_on").filter(subscription=account, add_on__code=code).first()
    if holding is None:
        raise not_found("The organization does not hold this add-on.")
    audit = {"action": "subscription.add_on_removed", "actor": actor, "metadata": {"add_on": code}}
    if account.provider == Subscription.Provider.STRIPE and account.stripe_subscription_id and account.is_entitled():
        with gateway.errors():
            _, item = _stripe_item_of(account, holding.add_on)
            if item is None:
                # Already gone at Stripe: apply what Stripe has.
                data = gateway.as_dict(gateway.subscription_retrieve(account.stripe_subscription_id))
            else:
                data = gateway.as_dict(
                    gateway.subscription_modify(
                        account.stripe_subscription_id,
                        items=[{"id": item["id"], "deleted": True}],
                        proration_behavior="create_prorations",
                    )
                )
        subscription_apply(account=account, data=data, version=now_version(), authoritative=True, always=True, **audit)
        if SubscriptionAddOn.objects.filter(pk=holding.pk).exists():
            raise conflict("Stripe still bills this add-on.")
        return
    old = subscription_snapshot(account)
    holding.delete()
    subscription_change_record(account=account, old=old, always=True, **audit)
