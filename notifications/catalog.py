"""The one catalog of notification events: templates, the context each keeps, default channels.

Titles and bodies are Django templates rendered with the caller's context plus
`organization_name`; a key the caller did not send renders empty. Only the keys an event
lists in `data_keys` are stored on the notification (and shown by the API): anything else a
caller passes is dropped, so a secret handed over by mistake is never kept.

Default channels: every event is shown in the app. Email is on by default except for
`invitation_received`, whose invitation email (with the join link) is already sent by the
invite flow: a second message would only repeat it without the link.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class EventType:
    """One kind of notification: how it reads and where it goes unless the user chose otherwise."""

    name: str
    description: str
    title: str
    body: str
    data_keys: tuple[str, ...]
    in_app: bool = True
    email: bool = True


INVITATION_RECEIVED = "invitation_received"
ROLE_CHANGED = "role_changed"
MEMBER_REMOVED = "member_removed"
INTEGRATION_FAILED = "integration_failed"
PAYMENT_FAILED = "payment_failed"
SUBSCRIPTION_CHANGED = "subscription_changed"

EVENTS: dict[str, EventType] = {
    event.name: event
    for event in (
        EventType(
            name=INVITATION_RECEIVED,
            description="Someone invited you to join an organization.",
            title="You are invited to join {{ organization_name }}",
            body=(
                "{% if invited_by %}{{ invited_by }} invited you{% else %}You were invited{% endif %} to join "
                "{{ organization_name }}{% if role %} as {{ role }}{% endif %}. "
                "Open the invitation email to accept or decline."
            ),
            data_keys=("invite_id", "organization_name", "role", "invited_by"),
            # The invite flow already emails the invitation (with its link).
            email=False,
        ),
        EventType(
            name=ROLE_CHANGED,
            description="Your role in an organization changed.",
            title="Your role in {{ organization_name }} changed",
            body=("Your role in {{ organization_name }} is now {{ role }}{% if previous_role %} (it was {{ previous_role }}){% endif %}."),
            data_keys=("role", "previous_role"),
        ),
        EventType(
            name=MEMBER_REMOVED,
            description="You were removed from an organization.",
            title="You were removed from {{ organization_name }}",
            body="You are no longer a member of {{ organization_name }} and can no longer access its data.",
            data_keys=(),
        ),
        EventType(
            name=INTEGRATION_FAILED,
            description="An integration of an organization you administer stopped working.",
            title="{% if provider %}The {{ provider }} integration{% else %}An integration{% endif %} of {{ organization_name }} failed",
            body=(
                "{% if provider %}The {{ provider }} integration{% else %}An integration{% endif %} of "
                "{{ organization_name }} failed{% if reason %}: {{ reason }}{% else %}.{% endif %} "
                "Reconnect it to resume."
            ),
            data_keys=("integration_id", "provider", "reason"),
        ),
        EventType(
            name=PAYMENT_FAILED,
            description="A payment for an organization's subscription failed.",
            title="Payment failed for {{ organization_name }}",
            body=(
                "A payment for the subscription of {{ organization_name }} failed"
                "{% if attempt_count %} (attempt {{ attempt_count }}){% endif %}. "
                "Update the payment method to keep the subscription active."
            ),
            # Not hosted_invoice_url: it opens the invoice (and its payment) for whoever holds it.
            data_keys=("invoice_id", "amount_due", "currency", "attempt_count", "next_payment_attempt"),
        ),
        EventType(
            name=SUBSCRIPTION_CHANGED,
            description="The subscription of an organization changed (plan, interval or status).",
            title="The subscription of {{ organization_name }} changed",
            body=(
                "The subscription of {{ organization_name }} changed"
                "{% if plan %}: it is now on the {{ plan }} plan{% if interval %} ({{ interval }}ly){% endif %}{% endif %}"
                "{% if status %}, status {{ status }}{% endif %}."
            ),
            data_keys=("plan", "previous_plan", "interval", "status", "cancel_at_period_end", "current_period_end"),
        ),
    )
}


def event_names() -> list[str]:
    """The known event names, in catalog order."""
    return list(EVENTS)
