"""What Stripe's and Razorpay's stored webhook events share: apply once, record failures, find the stuck ones.

Both event models (billing.WebhookEvent, billing.RazorpayWebhookEvent) carry the same processing
fields (status, note, organization, attempts, last_error, processed_at, received_at, event_created);
each provider's module supplies only how an event is dispatched.
"""

from collections.abc import Callable
from datetime import timedelta

from django.db import models, transaction
from django.db.models import F

from core import clock

Dispatch = Callable[[models.Model], tuple[str, str, object]]


def event_process(*, model: type[models.Model], pk: int, dispatch: Dispatch):
    """Apply a stored event once; failures are recorded on the row and re-raised for the task to retry."""
    try:
        with transaction.atomic():
            event = model.objects.select_for_update().get(pk=pk)
            if event.status in model.DONE:
                return event
            status, note, organization = dispatch(event)
            event.status = status
            event.note = note[:255]
            event.organization = organization
            event.attempts += 1
            event.last_error = ""
            event.processed_at = clock.now()
            event.save()
            return event
    except Exception as exc:
        model.objects.filter(pk=pk).exclude(status__in=model.DONE).update(
            status=model.Status.FAILED, attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:4000]
        )
        raise


def events_stuck(*, model: type[models.Model], older_than: timedelta, limit: int) -> list[int]:
    """Ids of events neither processed nor ignored that arrived more than `older_than` ago, oldest first."""
    return list(
        model.objects.exclude(status__in=model.DONE)
        .filter(received_at__lt=clock.now() - older_than)
        .order_by("event_created")
        .values_list("id", flat=True)[:limit]
    )
