"""Background refresh: the beat's scan, then one task per integration, retried with backoff."""

import logging

from celery import shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings

from core import clock
from core.actor import Actor
from integrations import oauth, selectors, services

logger = logging.getLogger(__name__)


@shared_task(name="integrations.tasks.refresh_due_integrations", ignore_result=True)
def refresh_due_integrations() -> dict:
    """Beat (every 30 minutes): expire what cannot refresh, queue a refresh of everything due."""
    now = clock.now()
    expired = services.integrations_expire(now=now)
    queued = 0
    for integration_id in selectors.refresh_due_ids(now=now).iterator(chunk_size=2000):
        refresh_integration.delay(str(integration_id))
        queued += 1
    logger.info("integrations beat: %s queued for refresh, %s expired", queued, expired)
    return {"queued": queued, "expired": expired}


@shared_task(bind=True, name="integrations.tasks.refresh_integration", ignore_result=True, acks_late=True)
def refresh_integration(self, integration_id: str) -> str:
    """Refresh one integration; retry provider outages with exponential backoff, then give up."""
    try:
        # skip_locked: another worker holding the row is already refreshing it.
        # due_before: a retry or a duplicate message finds it refreshed meanwhile and stops.
        integration = services.integration_refresh(integration_id=integration_id, actor=Actor.system(), skip_locked=True, due_before=clock.now())
    except oauth.ProviderError as error:
        if error.retryable and self.request.retries < settings.INTEGRATIONS_REFRESH_MAX_RETRIES:
            countdown = get_exponential_backoff_interval(
                factor=settings.INTEGRATIONS_REFRESH_BACKOFF_SECONDS, retries=self.request.retries, maximum=15 * 60, full_jitter=True
            )
            raise self.retry(countdown=countdown, exc=error) from None
        if error.kind != oauth.ErrorKind.INVALID_GRANT:  # invalid_grant was marked failed at once
            services.integration_fail(integration_id=integration_id, reason=error.message)
        return "failed"
    return "refreshed" if integration is not None else "skipped"
