"""Writes of the internal API: metered usage reported by services, counted once per idempotency key."""

from django.db import IntegrityError, transaction

from audit.services import event_record
from core import entitlements
from core.actor import Actor
from core.exceptions import conflict, validation_error
from internal import selectors
from internal.models import UsageRecord
from organizations.models import Organization


@transaction.atomic
def usage_record(*, actor: Actor, organization: Organization, feature: str, quantity: int, idempotency_key: str) -> dict:
    """Count `quantity` of metered `feature` against the org's plan once per (service, key); return `{used, limit}`.

    Over the plan's allowance: 402 PLAN_LIMIT_REACHED and nothing is recorded, so a retry with
    the same key after an upgrade counts. The same key again with the same report: counted once,
    the current state answered. The same key for a different report: 409.
    """
    service = actor.principal.service
    if not service:
        raise ValueError("usage_record needs a service actor")
    if feature not in selectors.METERED_FEATURES:
        raise validation_error("feature", f"Not a metered feature; one of: {', '.join(selectors.METERED_FEATURES)}.")
    record = UsageRecord(service=service, idempotency_key=idempotency_key, organization=organization, feature=feature, quantity=quantity)
    try:
        # Savepoint: on a duplicate key the rest of the request's transaction stays usable. On
        # PostgreSQL a concurrent insert of the same key waits here for the first to commit or roll back.
        with transaction.atomic():
            record.save(force_insert=True)
    except IntegrityError:
        existing = UsageRecord.objects.filter(service=service, idempotency_key=idempotency_key).first()
        if existing is None:  # pragma: no cover - the row that clashed is gone again (its org was deleted)
            raise
        if (existing.organization_id, existing.feature, existing.quantity) != (organization.id, feature, quantity):
            raise conflict("This idempotency_key was already used for a different usage report.", idempotency_key=idempotency_key) from None
        return selectors.usage_state(organization=organization, feature=feature)
    # 402 PLAN_LIMIT_REACHED when used up: the exception rolls the record back with it.
    entitlements.consume(organization, feature, quantity=quantity)
    event_record(
        action="usage.recorded",
        actor=actor,
        organization_id=organization.id,
        target=record,
        metadata={"feature": feature, "quantity": quantity, "service": service},
    )
    return selectors.usage_state(organization=organization, feature=feature)
