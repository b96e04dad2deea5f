"""Every call to Stripe's API goes through here (the official `stripe` library), with one error mapping.

The library's global `stripe.api_base` is what dj-stripe uses too, so pointing it at another
host (stripe-mock, the tests' local fake) moves both.
"""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import stripe
from django.conf import settings
from djstripe.settings import djstripe_settings

from core.errors import ErrorCode
from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)


def unavailable(message: str = "Billing is temporarily unavailable.") -> ApplicationError:
    """Build a 503 SERVICE_UNAVAILABLE error (Stripe unreachable or not configured)."""
    return ApplicationError(code=ErrorCode.SERVICE_UNAVAILABLE, message=message, status_code=503, headers={"Retry-After": "30"})


def api_key() -> str:
    """The secret key, read at call time (tests and deployments change it)."""
    key = settings.STRIPE_SECRET_KEY
    if not key:
        raise unavailable("Billing is not configured.")
    return key


def options() -> dict[str, Any]:
    """Request options every call passes: our key and the API version dj-stripe is pinned to."""
    return {"api_key": api_key(), "stripe_version": djstripe_settings.STRIPE_API_VERSION}


@contextmanager
def errors() -> Iterator[None]:
    """Turn Stripe's exceptions into the API's error envelope."""
    try:
        yield
    except (stripe.CardError, stripe.InvalidRequestError, stripe.IdempotencyError) as exc:
        message = getattr(exc, "user_message", None) or "Stripe refused the request."
        param = getattr(exc, "param", None)
        raise ApplicationError(
            code=ErrorCode.VALIDATION_ERROR,
            message=message,
            status_code=400,
            details={param: [message]} if param else {},
        ) from exc
    except (stripe.AuthenticationError, stripe.PermissionError) as exc:
        # Our key is wrong or lacks rights: the operator must act, the caller cannot.
        logger.error("stripe rejected our credentials: %s", exc)
        raise unavailable("Billing is misconfigured.") from exc
    except stripe.StripeError as exc:
        logger.warning("stripe unavailable: %s", exc)
        raise unavailable() from exc


def as_dict(obj: Any) -> dict:
    """A plain JSON-ready dict of a Stripe object (recursively)."""
    if isinstance(obj, dict):
        return json.loads(json.dumps(obj))
    return json.loads(str(obj))


def as_stripe_object(data: dict) -> stripe.StripeObject:
    """A Stripe object built from a payload (what dj-stripe's sync expects: lists are iterable)."""
    return stripe.convert_to_stripe_object(data, api_key=api_key(), stripe_version=djstripe_settings.STRIPE_API_VERSION)


# --- customers ----------------------------------------------------------------------------


def customer_create(*, organization_id: str, name: str, email: str | None) -> stripe.Customer:
    # Idempotency key per org: two racing first checkouts create one customer at Stripe.
    return stripe.Customer.create(
        name=name,
        email=email or None,
        metadata={"organization_id": organization_id},
        idempotency_key=f"org-customer-{organization_id}",
        **options(),
    )


def customer_retrieve(customer_id: str) -> stripe.Customer:
    return stripe.Customer.retrieve(customer_id, **options())


def customer_set_default_payment_method(customer_id: str, payment_method_id: str) -> stripe.Customer:
    return stripe.Customer.modify(customer_id, invoice_settings={"default_payment_method": payment_method_id}, **options())


# --- checkout and portal -------------------------------------------------------------------


def checkout_session_create(**params: Any) -> stripe.checkout.Session:
    return stripe.checkout.Session.create(**params, **options())


def portal_session_create(*, customer_id: str, return_url: str) -> stripe.billing_portal.Session:
    return stripe.billing_portal.Session.create(customer=customer_id, return_url=return_url, **options())


# --- subscriptions and invoices --------------------------------------------------------------


def subscription_retrieve(subscription_id: str) -> stripe.Subscription:
    return stripe.Subscription.retrieve(subscription_id, **options())


def subscription_modify(subscription_id: str, **params: Any) -> stripe.Subscription:
    return stripe.Subscription.modify(subscription_id, **params, **options())


def subscription_cancel(subscription_id: str) -> stripe.Subscription:
    return stripe.Subscription.cancel(subscription_id, **options())


def subscription_list(*, customer_id: str) -> list[stripe.Subscription]:
    return list(stripe.Subscription.list(customer=customer_id, status="all", limit=100, **options()).auto_paging_iter())


def invoice_preview(**params: Any) -> stripe.Invoice:
    return stripe.Invoice.create_preview(**params, **options())


# --- payment methods ----------------------------------------------------------------------------


def payment_method_retrieve(payment_method_id: str) -> stripe.PaymentMethod:
    return stripe.PaymentMethod.retrieve(payment_method_id, **options())


def payment_method_attach(*, payment_method_id: str, customer_id: str) -> stripe.PaymentMethod:
    return stripe.PaymentMethod.attach(payment_method_id, customer=customer_id, **options())


def payment_method_detach(payment_method_id: str) -> stripe.PaymentMethod:
    return stripe.PaymentMethod.detach(payment_method_id, **options())


# --- charges ------------------------------------------------------------------------------------


def charge_retrieve(charge_id: str) -> stripe.Charge:
    return stripe.Charge.retrieve(charge_id, **options())


# --- one-off payments (Checkout in payment mode) ---------------------------------------------------


def checkout_session_retrieve(session_id: str) -> stripe.checkout.Session:
    return stripe.checkout.Session.retrieve(session_id, **options())


def payment_intent_retrieve(payment_intent_id: str) -> stripe.PaymentIntent:
    return stripe.PaymentIntent.retrieve(payment_intent_id, **options())


def refund_create(*, charge_id: str, amount: int | None, reason: str | None, idempotency_key: str) -> stripe.Refund:
    params: dict[str, Any] = {"charge": charge_id}
    if amount is not None:
        params["amount"] = amount
    if reason:
        params["reason"] = reason
    return stripe.Refund.create(**params, idempotency_key=idempotency_key, **options())


# --- catalog (billing_sync_plans) ----------------------------------------------------------------


def product_retrieve(product_id: str) -> stripe.Product | None:
    try:
        return stripe.Product.retrieve(product_id, **options())
    except stripe.InvalidRequestError as exc:
        if getattr(exc, "code", None) == "resource_missing":
            return None
        raise


def product_create(**params: Any) -> stripe.Product:
    return stripe.Product.create(**params, **options())


def product_modify(product_id: str, **params: Any) -> stripe.Product:
    return stripe.Product.modify(product_id, **params, **options())


def price_retrieve(price_id: str) -> stripe.Price:
    return stripe.Price.retrieve(price_id, **options())


def price_by_lookup_key(lookup_key: str) -> stripe.Price | None:
    found = stripe.Price.list(lookup_keys=[lookup_key], limit=1, **options())
    return found.data[0] if found.data else None


def price_create(**params: Any) -> stripe.Price:
    return stripe.Price.create(**params, **options())


def price_modify(price_id: str, **params: Any) -> stripe.Price:
    return stripe.Price.modify(price_id, **params, **options())
