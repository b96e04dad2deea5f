"""Billing background jobs: Stripe and Razorpay webhook processing, manual-subscription expiry, seat sync."""

from celery import shared_task

from billing import razorpay_webhooks, webhooks
from billing.services.manual import manual_subscriptions_expire
from billing.services.subscriptions import subscription_seats_sync
from core.actor import Actor

# A stored webhook event's processing is retried 8 times with jittered exponential backoff (at most
# 10 minutes apart); beat's retry_* task picks up what is still unprocessed after that.
EVENT_RETRY = {"autoretry_for": (Exception,), "retry_backoff": True, "retry_backoff_max": 600, "retry_jitter": True, "max_retries": 8}


@shared_task(**EVENT_RETRY)
def process_stripe_event(webhook_event_id: int) -> str:
    """Apply one stored Stripe event (idempotent: an applied event is left alone)."""
    return webhooks.webhook_event_process(webhook_event_id=webhook_event_id).status


@shared_task
def retry_stripe_events() -> int:
    """Re-enqueue stored events still unprocessed a while after arrival (a lost task, retries used up)."""
    ids = webhooks.webhook_events_stuck()
    for webhook_event_id in ids:
        process_stripe_event.delay(webhook_event_id)
    return len(ids)


@shared_task(**EVENT_RETRY)
def process_razorpay_event(event_id: int) -> str:
    """Apply one stored Razorpay event (idempotent: an applied event is left alone)."""
    return razorpay_webhooks.razorpay_event_process(event_id=event_id).status


@shared_task
def retry_razorpay_events() -> int:
    """Re-enqueue stored Razorpay events still unprocessed a while after arrival."""
    ids = razorpay_webhooks.razorpay_events_stuck()
    for event_id in ids:
        process_razorpay_event.delay(event_id)
    return len(ids)


@shared_task
def expire_manual_subscriptions() -> int:
    """Downgrade manual subscriptions past their `active_until` to free (hourly, from beat)."""
    return manual_subscriptions_expire()


@shared_task(autoretry_for=(Exception,), retry_backoff=True, max_retries=5)
def sync_seats(organization_id: str) -> bool:
    """Make a per-seat subscription's quantity the org's member count."""
    from organizations.models import Organization

    organization = Organization.objects.filter(id=organization_id).first()
    if organization is None:
        return False
    return subscription_seats_sync(organization=organization, actor=Actor.system())
