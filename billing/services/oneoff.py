"""One-off payments: created through Stripe Checkout (payment mode) or a Razorpay Order, settled once.

A payment's state only moves forward (pending -> failed -> succeeded -> refunded, `failed` ->
`succeeded` being a retry that worked) and `amount_refunded` only grows: whatever order the
provider's facts arrive in (webhooks, `verify`, reconcile), applying them gives one result, and
applying one twice changes nothing. The audit event and `settled_at` mark the one transition
to `succeeded`.

Razorpay has no hosted page for an Order: `checkout_url` is the web app's pay page
(`{FRONTEND_URL}/billing/pay/{id}?...`) carrying the order id and the public key id, which opens
Razorpay Checkout (Checkout.js) for that order. Payments made there carry the order id, so the
webhook matches them to exactly one payment.
"""

from datetime import UTC, datetime
from urllib.parse import urlencode

from django.conf import settings
from django.db import transaction

from audit.services import event_record
from billing import gateway, gateway_razorpay
from billing.models import Payment
from billing.services.checkout import _frontend_url
from billing.services.customers import account_for_update, customer_ensure
from core import clock
from core.actor import Actor
from core.exceptions import conflict, not_found, validation_error

Status = Payment.Status


def _datetime(value) -> datetime | None:
    return datetime.fromtimestamp(int(value), tz=UTC) if value else None


def _record(payment: Payment, *, action: str, actor: Actor, changes: dict | None = None, metadata: dict | None = None) -> None:
    event_record(
        action=action,
        actor=actor,
        organization_id=payment.organization_id,
        target_type="payment",
        target_id=str(payment.id),
        changes=changes or {},
        metadata={"provider": payment.provider, "amount": payment.amount, "currency": payment.currency, **(metadata or {})},
    )


# --- create ---------------------------------------------------------------------------------------------


@transaction.atomic
def payment_create(
    *, organization, amount: int, currency: str, description: str, success_url: str | None, cancel_url: str | None, provider: str, actor: Actor
) -> Payment:
    """Start a one-off payment at the provider; the browser pays at `checkout_url`."""
    currency = currency.lower()
    payment = Payment(
        organization=organization,
        provider=provider,
        amount=amount,
        currency=currency,
        description=description,
        created_by=actor.user,
    )
    success_url = _frontend_url(success_url, default_path=f"/billing/payments/{payment.id}", field="success_url")
    cancel_url = _frontend_url(cancel_url, default_path="/billing", field="cancel_url")
    notes = {"organization_id": str(organization.id), "payment_id": str(payment.id)}
    if provider == Payment.Provider.RAZORPAY:
        with gateway_razorpay.errors():
            order = gateway_razorpay.order_create(amount=amount, currency=currency, receipt=str(payment.id), notes=notes)
            key_id = gateway_razorpay.key_id()
        payment.razorpay_order_id = order["id"]
        query = urlencode({"provider": "razorpay", "order_id": order["id"], "key_id": key_id, "success_url": success_url, "cancel_url": cancel_url})
        payment.checkout_url = f"{settings.FRONTEND_URL}/billing/pay/{payment.id}?{query}"
    else:
        account = account_for_update(organization=organization)
        customer_id = customer_ensure(account=account, actor=actor)
        with gateway.errors():
            session = gateway.checkout_session_create(
                mode="payment",
                customer=customer_id,
                client_reference_id=str(organization.id),
                line_items=[{"price_data": {"currency": currency, "unit_amount": amount, "product_data": {"name": description}}, "quantity": 1}],
                payment_intent_data={"description": description, "metadata": notes},
                metadata=notes,
                success_url=success_url,
                cancel_url=cancel_url,
                idempotency_key=f"oneoff-{payment.id}",
            )
        payment.stripe_checkout_session_id = session["id"]
        payment.checkout_url = session["url"]
    payment.save()
    _record(payment, action="payment.created", actor=actor, metadata={"description": description})
    return payment


# --- apply what the provider says (webhooks, verify, reconcile) ------------------------------------------------


def payment_apply(
    *,
    payment: Payment,
    status: str,
    version: datetime,
    actor: Actor,
    amount_refunded: int | None = None,
    failure_reason: str = "",
    ids: dict | None = None,
    metadata: dict | None = None,
) -> tuple[bool, str]:
    """Move a (locked) payment forward to what the provider reports; never backward, never twice."""
    old = {"status": payment.status, "amount_refunded": payment.amount_refunded}
    new_status = status if Payment.RANK[status] >= Payment.RANK[payment.status] else payment.status
    refunded = max(payment.amount_refunded, amount_refunded or 0)
    if refunded >= payment.amount and new_status in (Status.SUCCEEDED, Status.REFUNDED):
        new_status = Status.REFUNDED
    for field, value in (ids or {}).items():
        if value and not getattr(payment, field):
            setattr(payment, field, value)
    changes = {key: [old[key], value] for key, value in (("status", new_status), ("amount_refunded", refunded)) if old[key] != value}
    if not changes:
        if payment.provider_state_at is None or version > payment.provider_state_at:
            payment.provider_state_at = version
        payment.save()
        return False, "ignored: nothing new for this payment"
    payment.status = new_status
    payment.amount_refunded = refunded
    if new_status == Status.FAILED:
        payment.failure_reason = failure_reason[:255]
    if new_status in (Status.SUCCEEDED, Status.REFUNDED) and payment.settled_at is None:
        payment.settled_at = clock.now()
    payment.provider_state_at = max(version, payment.provider_state_at) if payment.provider_state_at else version
    payment.save()
    if old["status"] != new_status:
        _record(payment, action=f"payment.{new_status}", actor=actor, changes=changes, metadata=metadata)
    else:
        _record(payment, action="payment.refund_recorded", actor=actor, changes=changes, metadata=metadata)
    return True, "applied"


def razorpay_payment_mismatch(payment: Payment, entity: dict) -> str | None:
    """Why a Razorpay payment entity is not this payment's money (None when it is)."""
    entity_id = entity.get("id")
    if payment.razorpay_payment_id and entity_id and entity_id != payment.razorpay_payment_id:
        # Another attempt on the same order: its capture or refund is not ours to book.
        return f"Razorpay payment {entity_id} is not the one that paid this order ({payment.razorpay_payment_id})"
    if "amount" in entity and int(entity.get("amount") or 0) != payment.amount:
        return "the amount differs from the order's"
    if entity.get("currency") and str(entity["currency"]).lower() != payment.currency.lower():
        return "the currency differs from the order's"
    return None


def _razorpay_facts(payment: Payment, payments: list[dict]) -> dict:
    """The payment's state from its Razorpay order's payments: the captured one wins, else a failure."""
    payments = [p for p in payments if razorpay_payment_mismatch(payment, p) is None]
    captured = [p for p in payments if p.get("status") in ("captured", "refunded")]
    if captured:
        best = captured[0]
        refunded = int(best.get("amount_refunded") or 0)
        return {"status": Status.SUCCEEDED, "amount_refunded": refunded, "ids": {"razorpay_payment_id": best["id"]}}
    failed = [p for p in payments if p.get("status") == "failed"]
    if failed:
        reason = failed[0].get("error_description") or failed[0].get("error_reason") or "failed"
        return {"status": Status.FAILED, "failure_reason": reason, "ids": {}}
    return {"status": Status.PENDING, "ids": {}}


def _stripe_facts(payment: Payment) -> dict:
    with gateway.errors():
        session = gateway.as_dict(gateway.checkout_session_retrieve(payment.stripe_checkout_session_id))
        facts = stripe_session_facts(session)
        intent_id = facts["ids"].get("stripe_payment_intent_id")
        if facts["status"] == Status.SUCCEEDED and intent_id:
            facts.update(stripe_charge_facts(gateway.as_dict(gateway.payment_intent_retrieve(intent_id))))
    return facts


def stripe_session_facts(session: dict) -> dict:
    """A Checkout Session (payment mode) as a payment state."""
    intent = session.get("payment_intent")
    intent_id = intent if isinstance(intent, str) else (intent or {}).get("id")
    if session.get("status") == "complete" and session.get("payment_status") in ("paid", "no_payment_required"):
        status = Status.SUCCEEDED
    elif session.get("status") == "expired":
        status = Status.FAILED
    else:
        status = Status.PENDING
    return {"status": status, "failure_reason": "checkout expired" if status == Status.FAILED else "", "ids": {"stripe_payment_intent_id": intent_id}}


def stripe_charge_facts(intent: dict) -> dict:
    """The charge id and refunded amount of a PaymentIntent."""
    charge = intent.get("latest_charge")
    charge = gateway.as_dict(gateway.charge_retrieve(charge)) if isinstance(charge, str) else (charge or {})
    return {"amount_refunded": int(charge.get("amount_refunded") or 0), "ids_charge": charge.get("id")}


def _provider_facts(payment: Payment) -> dict:
    if payment.provider == Payment.Provider.RAZORPAY:
        with gateway_razorpay.errors():
            return _razorpay_facts(payment, gateway_razorpay.order_payments(payment.razorpay_order_id))
    facts = _stripe_facts(payment)
    if facts.get("ids_charge"):
        facts["ids"]["stripe_charge_id"] = facts.pop("ids_charge")
    return facts


def payment_for_update(*, organization, payment_id) -> Payment:
    """Lock one of the org's one-off payments (404 for anyone else's)."""
    payment = Payment.objects.select_for_update().filter(organization=organization, id=payment_id).first()
    if payment is None:
        raise not_found("No such payment.")
    return payment


@transaction.atomic
def payment_verify(*, organization, payment_id, actor: Actor) -> Payment:
    """Re-read the payment at its provider and apply what it says (the webhook may not have come yet)."""
    payment = payment_for_update(organization=organization, payment_id=payment_id)
    facts = _provider_facts(payment)
    payment_apply(
        payment=payment,
        status=facts["status"],
        version=clock.now(),
        actor=actor,
        amount_refunded=facts.get("amount_refunded"),
        failure_reason=facts.get("failure_reason", ""),
        ids=facts.get("ids"),
        metadata={"source": "verify"},
    )
    return payment


# --- refund ---------------------------------------------------------------------------------------------------


@transaction.atomic
def payment_refund_oneoff(*, organization, payment_id, amount: int | None, reason: str | None, actor: Actor) -> Payment:
    """Refund a succeeded one-off payment (all that remains, or `amount`) at its provider."""
    payment = payment_for_update(organization=organization, payment_id=payment_id)
    if payment.status == Status.REFUNDED:
        raise conflict("This payment is already fully refunded.")
    if payment.status != Status.SUCCEEDED:
        raise conflict("Only a succeeded payment can be refunded.")
    refundable = payment.refundable
    if amount is not None and amount > refundable:
        raise validation_error("amount", f"At most {refundable} can be refunded.")
    amount = amount or refundable
    # One key per (payment, amount already refunded): a retried request refunds once.
    idempotency_key = f"oneoff-refund-{payment.id}-{payment.amount_refunded}-{amount}"
    if payment.provider == Payment.Provider.RAZORPAY:
        with gateway_razorpay.errors():
            refund = gateway_razorpay.payment_refund(
                payment_id=payment.razorpay_payment_id, amount=amount, notes={"payment_id": str(payment.id), "reason": reason or ""}
            )
            remote = gateway_razorpay.payment_fetch(payment.razorpay_payment_id)
        refunded = int(remote.get("amount_refunded") or 0)
    else:
        with gateway.errors():
            refund = gateway.refund_create(charge_id=payment.stripe_charge_id, amount=amount, reason=reason, idempotency_key=idempotency_key)
            refunded = int(gateway.charge_retrieve(payment.stripe_charge_id).get("amount_refunded") or 0)
    payment_apply(
        payment=payment,
        status=Status.SUCCEEDED,
        version=clock.now(),
        actor=actor,
        amount_refunded=max(refunded, payment.amount_refunded + amount),
        metadata={"refund_id": refund["id"], "reason": reason or "", "source": "api"},
    )
    return payment


@transaction.atomic
def payment_reconcile(*, payment_id, dry_run: bool = False) -> str:
    """Compare a pending payment with its provider and apply what differs; return the drift ("" for none)."""
    payment = Payment.objects.select_for_update().filter(id=payment_id).first()
    if payment is None or payment.status != Status.PENDING:
        return ""
    facts = _provider_facts(payment)
    if facts["status"] == Status.PENDING:
        return ""
    if not dry_run:
        payment_apply(
            payment=payment,
            status=facts["status"],
            version=clock.now(),
            actor=Actor.system(),
            amount_refunded=facts.get("amount_refunded"),
            failure_reason=facts.get("failure_reason", ""),
            ids=facts.get("ids"),
            metadata={"source": "reconcile"},
        )
    return f"status: local 'pending', {payment.provider} {facts['status']!r}"
