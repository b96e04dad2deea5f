"""Payments and payment methods: refunds (Stripe charges and one-off payments), attach, default, detach."""

from decimal import Decimal

from django.db import transaction
from djstripe import models as dj

from audit.services import event_record
from billing import gateway, selectors
from billing.services.customers import account_for_update, customer_ensure
from billing.services.oneoff import payment_refund_oneoff
from core.actor import Actor
from core.exceptions import conflict, validation_error


@transaction.atomic
def payment_refund(*, organization, payment_id: str, amount: int | None, reason: str | None, actor: Actor):
    """Refund an org's payment (all of it, or `amount` in the currency's minor unit): a Stripe charge or a one-off payment."""
    if selectors.is_uuid(payment_id):
        return payment_refund_oneoff(organization=organization, payment_id=payment_id, amount=amount, reason=reason, actor=actor)
    account = account_for_update(organization=organization)
    charge = selectors.payment_get(organization=organization, payment_id=payment_id)
    refundable = int(charge.stripe_data.get("amount", 0)) - int(charge.stripe_data.get("amount_refunded") or 0)
    if refundable <= 0:
        raise conflict("This payment is already fully refunded.")
    if amount is not None and amount > refundable:
        raise validation_error("amount", f"At most {refundable} can be refunded.")
    key = gateway.api_key()
    with gateway.errors():
        refund = charge.refund(amount=Decimal(amount) / 100 if amount is not None else None, reason=reason or None, api_key=key)
        charge = dj.Charge.sync_from_stripe_data(gateway.charge_retrieve(charge.id), api_key=key)
    event_record(
        action="payment.refunded",
        actor=actor,
        organization_id=account.organization_id,
        target_type="payment",
        target_id=charge.id,
        changes={"amount_refunded": [charge.stripe_data.get("amount_refunded", 0) - refund.amount, charge.stripe_data.get("amount_refunded", 0)]},
        metadata={"refund_id": refund.id, "reason": reason or ""},
    )
    return charge


@transaction.atomic
def payment_method_attach(*, organization, payment_method_id: str, set_default: bool, actor: Actor):
    """Attach a Stripe PaymentMethod (made by Stripe.js) to the org's customer; the first one becomes default."""
    account = account_for_update(organization=organization)
    customer_id = customer_ensure(account=account, actor=actor)
    key = gateway.api_key()
    with gateway.errors():
        method = dj.PaymentMethod.attach(payment_method_id, customer_id, api_key=key)
    if set_default or not selectors.default_payment_method_id(organization=organization):
        _default_set(customer_id=customer_id, payment_method_id=method.id)
    event_record(
        action="payment_method.attached",
        actor=actor,
        organization_id=organization.id,
        target_type="payment_method",
        target_id=method.id,
    )
    return method


def _default_set(*, customer_id: str, payment_method_id: str) -> None:
    with gateway.errors():
        customer = gateway.customer_set_default_payment_method(customer_id, payment_method_id)
        dj.Customer.sync_from_stripe_data(customer, api_key=gateway.api_key())


@transaction.atomic
def payment_method_set_default(*, organization, payment_method_id: str, actor: Actor):
    """Make one of the org's payment methods the default for its invoices."""
    account = account_for_update(organization=organization)
    method = selectors.payment_method_get(organization=organization, payment_method_id=payment_method_id)
    old = selectors.default_payment_method_id(organization=organization)
    _default_set(customer_id=account.stripe_customer_id, payment_method_id=method.id)
    event_record(
        action="payment_method.default_changed",
        actor=actor,
        organization_id=organization.id,
        target_type="payment_method",
        target_id=method.id,
        changes={"default_payment_method": [old, method.id]},
    )
    return method


@transaction.atomic
def payment_method_detach(*, organization, payment_method_id: str, actor: Actor) -> None:
    """Detach one of the org's payment methods from its customer."""
    account = account_for_update(organization=organization)
    method = selectors.payment_method_get(organization=organization, payment_method_id=payment_method_id)
    was_default = selectors.default_payment_method_id(organization=organization) == method.id
    key = gateway.api_key()
    with gateway.errors():
        dj.PaymentMethod.sync_from_stripe_data(gateway.payment_method_detach(method.id), api_key=key)
        if was_default:
            dj.Customer.sync_from_stripe_data(gateway.customer_retrieve(account.stripe_customer_id), api_key=key)
    event_record(
        action="payment_method.detached",
        actor=actor,
        organization_id=organization.id,
        target_type="payment_method",
        target_id=method.id,
    )
