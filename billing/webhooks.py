"""Stripe webhooks, exactly once: store on receipt, process in a task, in the order of the objects' own time.

1. `webhook_event_store` (the endpoint): verify the Stripe-Signature, then insert the event,
   unique on its Stripe id, and enqueue processing after commit. The endpoint answers 2xx only
   once that row is committed; a duplicate delivery finds the row and changes nothing.
2. `webhook_event_process` (the task): lock the event row; a processed event is left alone
   (replays, duplicates, concurrent workers); else lock the org's billing row, so one org's
   events apply one at a time, and apply the event unless a newer one for the same Stripe
   object was already applied (the event's `created` is when the object was in that state).
"""

import json
import logging
from datetime import UTC, datetime, timedelta

import stripe
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from djstripe import models as dj

from audit.services import event_record
from billing import events, gateway
from billing.models import Payment, Subscription, WebhookEvent
from billing.services.customers import account_for_update, organization_owner
from billing.services.state import subscription_apply
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from notifications import services as notification_services
from organizations.models import Organization

logger = logging.getLogger(__name__)


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, status_code=400)


def _enqueuer(webhook_event_id: int):
    def enqueue_stripe_event() -> None:
        from billing.tasks import process_stripe_event

        process_stripe_event.delay(webhook_event_id)

    return enqueue_stripe_event


def webhook_event_store(*, payload: bytes, signature: str | None) -> tuple[WebhookEvent, bool]:
    """Verify and durably store a Stripe event (once per Stripe id); return (event, created)."""
    secret = settings.STRIPE_WEBHOOK_SECRET
    if not secret:
        # 503, not 400: Stripe keeps retrying, so nothing is lost while the secret is being set.
        raise gateway.unavailable("Stripe webhooks are not configured.")
    try:
        # Checks the HMAC of "<t>.<payload>" with our endpoint secret and rejects stale timestamps (replays).
        stripe.Webhook.construct_event(payload, signature or "", secret)
    except stripe.SignatureVerificationError:
        raise _invalid("Invalid Stripe signature.") from None
    except ValueError:
        raise _invalid("Invalid payload.") from None
    data = json.loads(payload)
    obj = (data.get("data") or {}).get("object")
    if not (isinstance(data.get("id"), str) and isinstance(data.get("type"), str) and isinstance(obj, dict)):
        raise _invalid("Not a Stripe event.")
    with transaction.atomic():
        event, created = WebhookEvent.objects.get_or_create(
            stripe_event_id=data["id"],
            defaults={
                "type": data["type"],
                "livemode": bool(data.get("livemode")),
                "api_version": data.get("api_version") or "",
                "object_type": obj.get("object") or "",
                "object_id": obj.get("id") or "",
                "event_created": datetime.fromtimestamp(int(data.get("created") or 0), tz=UTC),
                "payload": data,
            },
        )
        if event.status not in WebhookEvent.DONE:
            # Also for a redelivery of an unfinished event: processing is idempotent, so this only retries.
            # robust: a broker hiccup must not turn the stored event's 2xx into a 500.
            transaction.on_commit(_enqueuer(event.id), robust=True)
    return event, created


def webhook_event_process(*, webhook_event_id: int) -> WebhookEvent:
    """Apply a stored event once; failures are recorded on the row and re-raised for the task to retry."""
    return events.event_process(model=WebhookEvent, pk=webhook_event_id, dispatch=_dispatch)


def webhook_events_stuck(*, older_than: timedelta = timedelta(minutes=10), limit: int = 500) -> list[int]:
    """Ids of events neither processed nor ignored that arrived more than `older_than` ago."""
    return events.events_stuck(model=WebhookEvent, older_than=older_than, limit=limit)


# --- dispatch --------------------------------------------------------------------------------------


def _id_of(value) -> str | None:
    if isinstance(value, str):
        return value
    return (value or {}).get("id") if isinstance(value, dict) else None


def _organization_for(obj: dict) -> Organization | None:
    """The org an object belongs to: by our customer mapping, else by the metadata we put on it."""
    customer_id = obj.get("id") if obj.get("object") == "customer" else _id_of(obj.get("customer"))
    if customer_id is None and obj.get("object") == "payment_method":
        # A detached payment method no longer names its customer: ask the copy we hold.
        customer_id = dj.PaymentMethod.objects.filter(id=obj.get("id")).values_list("customer_id", flat=True).first()
    if customer_id:
        account = Subscription.objects.select_related("organization").filter(stripe_customer_id=customer_id).first()
        if account is not None:
            return account.organization
    # We set organization_id on customers, checkout sessions and subscriptions we create.
    organization_id = (obj.get("metadata") or {}).get("organization_id") or obj.get("client_reference_id")
    if organization_id:
        try:
            return Organization.objects.filter(id=organization_id).first()
        except (ValueError, TypeError, ValidationError):  # not a UUID: not one of ours
            return None
    return None


def _newer_applied(event: WebhookEvent) -> bool:
    """Whether an event about the same object with a later `created` was already applied."""
    if not event.object_id:
        return False
    return (
        WebhookEvent.objects.filter(object_id=event.object_id, status=WebhookEvent.Status.PROCESSED, event_created__gt=event.event_created)
        .exclude(pk=event.pk)
        .exists()
    )


def _dispatch(event: WebhookEvent) -> tuple[str, str, Organization | None]:
    handler, needs_organization = _handler_for(event.type)
    if handler is None:
        return WebhookEvent.Status.IGNORED, "ignored: event type not handled", None
    obj = event.payload["data"]["object"]
    organization = _organization_for(obj) if needs_organization else None
    account = None
    if needs_organization:
        if organization is None:
            return WebhookEvent.Status.IGNORED, "ignored: no organization for this object", None
        account = account_for_update(organization=organization)
    if _newer_applied(event):
        return WebhookEvent.Status.IGNORED, "stale: a newer event for this object was applied", organization
    applied, note = handler(event=event, obj=obj, account=account)
    return (WebhookEvent.Status.PROCESSED if applied else WebhookEvent.Status.IGNORED), note, organization


def _sync(model, obj: dict):
    with gateway.errors():
        return model.sync_from_stripe_data(gateway.as_stripe_object(obj), api_key=gateway.api_key())


def _metadata(event: WebhookEvent) -> dict:
    return {"source": "stripe_webhook", "stripe_event_id": event.stripe_event_id, "event_type": event.type}


def _link_customer(account: Subscription, customer_id: str | None) -> None:
    if customer_id and not account.stripe_customer_id:
        account.stripe_customer_id = customer_id
        account.save(update_fields=["stripe_customer_id", "updated_at"])


# --- handlers: (event, obj, account) -> (applied, note) -------------------------------------------------


def _on_payment_checkout(*, event, obj, account):
    """A one-off payment's Checkout Session completed, expired, or its delayed payment settled."""
    from billing.services.oneoff import payment_apply, stripe_charge_facts, stripe_session_facts

    if obj.get("object") != "checkout.session" or obj.get("mode") != "payment":
        return False, "ignored: not a one-off payment checkout"
    payment = Payment.objects.select_for_update().filter(stripe_checkout_session_id=obj.get("id"), organization=account.organization).first()
    if payment is None:
        return False, "ignored: no one-off payment for this session"
    facts = stripe_session_facts(obj)
    if event.type == "checkout.session.async_payment_failed":
        facts.update(status=Payment.Status.FAILED, failure_reason="payment failed")
    ids = facts["ids"]
    if facts["status"] == Payment.Status.SUCCEEDED and ids.get("stripe_payment_intent_id") and not payment.stripe_charge_id:
        # The charge id is what a refund needs (and keeps the charge from being listed twice).
        with gateway.errors():
            ids["stripe_charge_id"] = stripe_charge_facts(gateway.as_dict(gateway.payment_intent_retrieve(ids["stripe_payment_intent_id"])))["ids_charge"]
    return payment_apply(
        payment=payment,
        status=facts["status"],
        version=event.event_created,
        actor=Actor.system(),
        failure_reason=facts.get("failure_reason", ""),
        ids=ids,
        metadata=_metadata(event),
    )


def _on_checkout_completed(*, event, obj, account):
    if obj.get("mode") == "payment":
        return _on_payment_checkout(event=event, obj=obj, account=account)
    if obj.get("mode") != "subscription" or not obj.get("subscription"):
        return False, "ignored: not a subscription checkout"
    _link_customer(account, _id_of(obj.get("customer")))
    subscription_id = _id_of(obj.get("subscription"))
    if account.stripe_subscription_id == subscription_id and account.stripe_state_at and account.stripe_state_at >= event.event_created:
        return True, "applied: subscription already recorded"
    with gateway.errors():
        subscription = gateway.as_dict(gateway.subscription_retrieve(subscription_id))
    return subscription_apply(account=account, data=subscription, version=event.event_created, actor=Actor.system(), metadata=_metadata(event))


def _on_subscription(*, event, obj, account):
    if obj.get("object") != "subscription":
        return False, "ignored: not a subscription"
    _link_customer(account, _id_of(obj.get("customer")))
    return subscription_apply(account=account, data=obj, version=event.event_created, actor=Actor.system(), metadata=_metadata(event))


def _on_invoice(*, event, obj, account):
    if obj.get("object") != "invoice" or not obj.get("id"):
        return False, "ignored: not a stored invoice"
    _sync(dj.Invoice, obj)
    return True, "applied"


def _on_invoice_payment_failed(*, event, obj, account):
    if obj.get("object") != "invoice" or not obj.get("id"):
        return False, "ignored: not a stored invoice"
    _sync(dj.Invoice, obj)
    organization = account.organization
    details = {
        "invoice_id": obj.get("id"),
        "amount_due": obj.get("amount_due"),
        "currency": obj.get("currency"),
        "attempt_count": obj.get("attempt_count"),
        "next_payment_attempt": obj.get("next_payment_attempt"),
        "hosted_invoice_url": obj.get("hosted_invoice_url"),
    }
    event_record(
        action="invoice.payment_failed",
        actor=Actor.system(),
        organization_id=organization.id,
        target_type="invoice",
        target_id=obj.get("id") or "",
        metadata={**details, **_metadata(event)},
    )
    owner = organization_owner(organization)
    if owner is not None:
        # After commit: a processing attempt that rolls back (and is retried) must not notify twice.
        transaction.on_commit(
            lambda: notification_services.notify(event="payment_failed", user=owner, organization=organization, context=details),
            robust=True,
        )
    return True, "applied: owner notified"


def _on_charge(*, event, obj, account):
    if obj.get("object") != "charge":
        return False, "ignored: disputes and refunds are read through their charge"
    _sync(dj.Charge, obj)
    return True, "applied"


def _on_payment_method(*, event, obj, account):
    if obj.get("object") != "payment_method":
        return False, "ignored: not a payment method"
    _sync(dj.PaymentMethod, obj)
    return True, "applied"


def _on_customer(*, event, obj, account):
    if event.type == "customer.deleted":
        if account.stripe_customer_id == obj.get("id"):
            account.stripe_customer_id = None
            account.save(update_fields=["stripe_customer_id", "updated_at"])
        return True, "applied: customer unlinked"
    _sync(dj.Customer, obj)
    return True, "applied"


def _on_catalog(*, event, obj, account):
    if event.type.endswith(".deleted"):
        return False, "ignored: catalog deletions are made through billing_sync_plans"
    _sync(dj.Product if obj.get("object") == "product" else dj.Price, obj)
    return True, "applied"


_EXACT = {
    "checkout.session.completed": (_on_checkout_completed, True),
    "invoice.payment_failed": (_on_invoice_payment_failed, True),
    "checkout.session.async_payment_succeeded": (_on_payment_checkout, True),
    "checkout.session.async_payment_failed": (_on_payment_checkout, True),
    "checkout.session.expired": (_on_payment_checkout, True),
}
_PREFIXES = (
    ("customer.subscription.", _on_subscription, True),
    ("invoice.", _on_invoice, True),
    ("charge.", _on_charge, True),
    ("payment_method.", _on_payment_method, True),
    ("product.", _on_catalog, False),
    ("price.", _on_catalog, False),
)
_CUSTOMER = {"customer.created", "customer.updated", "customer.deleted"}


def _handler_for(event_type: str):
    if event_type in _EXACT:
        return _EXACT[event_type]
    if event_type in _CUSTOMER:
        return _on_customer, True
    for prefix, handler, needs_organization in _PREFIXES:
        if event_type.startswith(prefix):
            return handler, needs_organization
    return None, False
