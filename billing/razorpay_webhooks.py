"""Razorpay webhooks, exactly once: store on receipt, process in a task, in the order of the entities' own time.

The same design as Stripe's (billing.webhooks):
1. `razorpay_event_store` (the endpoint): verify X-Razorpay-Signature (hex HMAC-SHA256 of the raw
   body with RAZORPAY_WEBHOOK_SECRET), then insert the event unique on X-Razorpay-Event-Id (Razorpay
   sends the same id again on every retry) and enqueue processing after commit.
2. `razorpay_event_process` (the task): lock the event row, leave a done event alone, apply it
   unless a newer event about the same entity was applied (the payload's `created_at`).
   Subscription events lock the org's billing row; payment and refund events lock the payment,
   whose state only moves forward (billing.services.oneoff).
"""

import json
import logging
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction

from billing import events, gateway, gateway_razorpay
from billing.models import Payment, RazorpayWebhookEvent, Subscription
from billing.services.customers import account_for_update
from billing.services.oneoff import payment_apply, razorpay_payment_mismatch
from billing.services.razorpay import razorpay_subscription_apply
from core.actor import Actor
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from organizations.models import Organization

logger = logging.getLogger(__name__)

SUBSCRIPTION_EVENTS = {"subscription.activated", "subscription.charged", "subscription.cancelled", "subscription.halted"}
PAYMENT_EVENTS = {"payment.captured", "payment.failed", "refund.processed"}


def _invalid(message: str) -> ApplicationError:
    return ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, status_code=400)


def _enqueuer(event_id: int):
    def enqueue_razorpay_event() -> None:
        from billing.tasks import process_razorpay_event

        process_razorpay_event.delay(event_id)

    return enqueue_razorpay_event


def _entity(data: dict, name: str) -> dict:
    entity = ((data.get("payload") or {}).get(name) or {}).get("entity")
    return entity if isinstance(entity, dict) else {}


def _subject(data: dict) -> tuple[str, str]:
    """(entity type, entity id) the event is about: the one whose state it orders."""
    event_type = data.get("event") or ""
    if event_type.startswith("subscription."):
        return "subscription", _entity(data, "subscription").get("id") or ""
    if event_type.startswith("refund."):
        # A refund changes its payment: ordered with that payment's other events.
        return "payment", _entity(data, "refund").get("payment_id") or _entity(data, "payment").get("id") or ""
    if event_type.startswith("payment."):
        return "payment", _entity(data, "payment").get("id") or ""
    return "", ""


def razorpay_event_store(*, payload: bytes, signature: str | None, event_id: str | None) -> tuple[RazorpayWebhookEvent, bool]:
    """Verify and durably store a Razorpay event (once per event id); return (event, created)."""
    secret = settings.RAZORPAY_WEBHOOK_SECRET
    if not secret:
        # 503, not 400: Razorpay retries, so nothing is lost while the secret is being set.
        raise gateway.unavailable("Razorpay webhooks are not configured.")
    if not signature or not gateway_razorpay.webhook_signature_valid(payload=payload, signature=signature, secret=secret):
        raise _invalid("Invalid Razorpay signature.")
    try:
        data = json.loads(payload)
    except ValueError:
        raise _invalid("Invalid payload.") from None
    if not (isinstance(data, dict) and isinstance(data.get("event"), str) and isinstance(data.get("payload"), dict)):
        raise _invalid("Not a Razorpay event.")
    if not event_id or len(event_id) > 255:
        raise _invalid("Missing X-Razorpay-Event-Id.")
    entity_type, entity_id = _subject(data)
    try:
        created = datetime.fromtimestamp(int(data.get("created_at") or 0), tz=UTC)
    except (TypeError, ValueError, OverflowError):
        raise _invalid("Invalid created_at.") from None
    with transaction.atomic():
        event, was_created = RazorpayWebhookEvent.objects.get_or_create(
            event_id=event_id,
            defaults={
                "type": data["event"][:100],
                "account_id": str(data.get("account_id") or "")[:255],
                "entity_type": entity_type,
                "entity_id": entity_id[:255],
                "event_created": created,
                "payload": data,
            },
        )
        if event.status not in RazorpayWebhookEvent.DONE:
            # robust: a broker hiccup must not turn the stored event's 2xx into a 500.
            transaction.on_commit(_enqueuer(event.id), robust=True)
    return event, was_created


def razorpay_event_process(*, event_id: int) -> RazorpayWebhookEvent:
    """Apply a stored event once; failures are recorded on the row and re-raised for the task to retry."""
    return events.event_process(model=RazorpayWebhookEvent, pk=event_id, dispatch=_dispatch)


def razorpay_events_stuck(*, older_than: timedelta = timedelta(minutes=10), limit: int = 500) -> list[int]:
    """Ids of events neither processed nor ignored that arrived more than `older_than` ago."""
    return events.events_stuck(model=RazorpayWebhookEvent, older_than=older_than, limit=limit)


def _newer_applied(event: RazorpayWebhookEvent) -> bool:
    if not event.entity_id:
        return False
    return (
        RazorpayWebhookEvent.objects.filter(entity_id=event.entity_id, status=RazorpayWebhookEvent.Status.PROCESSED, event_created__gt=event.event_created)
        .exclude(pk=event.pk)
        .exists()
    )


def _metadata(event: RazorpayWebhookEvent) -> dict:
    return {"source": "razorpay_webhook", "razorpay_event_id": event.event_id, "event_type": event.type}


def _organization_of_subscription(entity: dict) -> Organization | None:
    account = Subscription.objects.select_related("organization").filter(razorpay_subscription_id=entity.get("id")).first()
    if account is not None:
        return account.organization
    # We put organization_id in the notes of the subscriptions we create.
    notes = entity.get("notes")
    organization_id = notes.get("organization_id") if isinstance(notes, dict) else None
    if not organization_id:
        return None
    try:
        return Organization.objects.filter(id=organization_id).first()
    except (ValueError, TypeError, ValidationError):
        return None


def _dispatch(event: RazorpayWebhookEvent) -> tuple[str, str, Organization | None]:
    ignored = RazorpayWebhookEvent.Status.IGNORED
    if event.type not in SUBSCRIPTION_EVENTS | PAYMENT_EVENTS:
        return ignored, "ignored: event type not handled", None
    if event.type in SUBSCRIPTION_EVENTS:
        entity = _entity(event.payload, "subscription")
        organization = _organization_of_subscription(entity) if entity.get("id") else None
        if organization is None:
            return ignored, "ignored: no organization for this subscription", None
        account = account_for_update(organization=organization)
        if _newer_applied(event):
            return ignored, "stale: a newer event for this subscription was applied", organization
        applied, note = razorpay_subscription_apply(
            account=account, entity=entity, version=event.event_created, actor=Actor.system(), metadata=_metadata(event)
        )
        return (RazorpayWebhookEvent.Status.PROCESSED if applied else ignored), note, organization
    payment_entity = _entity(event.payload, "payment")
    refund = _entity(event.payload, "refund")
    order_id = payment_entity.get("order_id")
    payment_id = payment_entity.get("id") or refund.get("payment_id")
    lookup = Payment.objects.select_for_update().select_related("organization").filter(provider=Payment.Provider.RAZORPAY)
    payment = (lookup.filter(razorpay_order_id=order_id).first() if order_id else None) or (
        lookup.filter(razorpay_payment_id=payment_id).first() if payment_id else None
    )
    if payment is None:
        # Subscription charges are payments too; they are followed through subscription.* events.
        return ignored, "ignored: not a one-off payment of ours", None
    organization = payment.organization
    if _newer_applied(event):
        return ignored, "stale: a newer event for this payment was applied", organization
    mismatch = razorpay_payment_mismatch(payment, payment_entity or {"id": payment_id})
    if mismatch:
        logger.warning("razorpay event %s for payment %s ignored: %s", event.event_id, payment.id, mismatch)
        return ignored, f"ignored: {mismatch}", organization
    if event.type == "payment.failed":
        status, refunded = Payment.Status.FAILED, None
    elif event.type == "payment.captured":
        status, refunded = Payment.Status.SUCCEEDED, int(payment_entity.get("amount_refunded") or 0)
    else:  # refund.processed: the payment's total refunded (a total, so a refund counted twice is not)
        status = Payment.Status.SUCCEEDED
        if "amount_refunded" not in payment_entity and payment.razorpay_payment_id:
            with gateway_razorpay.errors():
                payment_entity = gateway_razorpay.payment_fetch(payment.razorpay_payment_id)
        refunded = int(payment_entity.get("amount_refunded") or 0)
    applied, note = payment_apply(
        payment=payment,
        status=status,
        version=event.event_created,
        actor=Actor.system(),
        amount_refunded=refunded,
        failure_reason=payment_entity.get("error_description") or payment_entity.get("error_reason") or "",
        ids={"razorpay_payment_id": payment_id} if status == Payment.Status.SUCCEEDED else {},
        metadata=_metadata(event),
    )
    return (RazorpayWebhookEvent.Status.PROCESSED if applied else ignored), note, organization
