"""Audit background jobs: retention pruning."""

from celery import shared_task

from audit import services


@shared_task
def prune_expired_events() -> int:
    """Delete events older than each organization's plan retention (daily, from beat)."""
    return services.events_prune()
