"""Every call to Razorpay's API goes through here (the official `razorpay` SDK), with one error mapping.

Beside `billing.gateway` (Stripe): the same seam, a second provider. The SDK's base URL comes
from RAZORPAY_API_BASE (the tests point it at a local fake); keys are read at call time.
"""

import hashlib
import hmac
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import razorpay
import requests
from django.conf import settings

from billing.gateway import unavailable
from core.errors import ErrorCode
from core.exceptions import ApplicationError

logger = logging.getLogger(__name__)

# Seconds per call: the SDK sets none, and a hung Razorpay must not hold a request thread.
TIMEOUT = 15


def configured() -> bool:
    """Whether the API key pair is set (the provider is offered only then)."""
    return bool(settings.RAZORPAY_KEY_ID and settings.RAZORPAY_KEY_SECRET)


def key_id() -> str:
    """The public key id (the browser's Checkout.js needs it; it is not a secret)."""
    if not configured():
        raise unavailable("Razorpay is not configured.")
    return settings.RAZORPAY_KEY_ID


def client() -> razorpay.Client:
    """An SDK client with our key pair, on RAZORPAY_API_BASE (503 when not configured)."""
    if not configured():
        raise unavailable("Razorpay is not configured.")
    return razorpay.Client(auth=(settings.RAZORPAY_KEY_ID, settings.RAZORPAY_KEY_SECRET), base_url=settings.RAZORPAY_API_BASE.rstrip("/"))


@contextmanager
def errors() -> Iterator[None]:
    """Turn the SDK's exceptions into the API's error envelope."""
    try:
        yield
    except razorpay.errors.BadRequestError as exc:
        message = str(exc) or "Razorpay refused the request."
        if "authentication failed" in message.lower():
            # Our key pair is wrong: the operator must act, the caller cannot.
            logger.error("razorpay rejected our credentials")
            raise unavailable("Billing is misconfigured.") from exc
        raise ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, status_code=400) from exc
    except (razorpay.errors.GatewayError, razorpay.errors.ServerError, requests.RequestException, ValueError) as exc:
        # ValueError: a non-JSON answer (a proxy's error page).
        logger.warning("razorpay unavailable: %s", exc)
        raise unavailable() from exc


def webhook_signature_valid(*, payload: bytes, signature: str, secret: str) -> bool:
    """Whether `signature` is the hex HMAC-SHA256 of the raw body with the webhook secret."""
    expected = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    # Constant time: the comparison must not reveal how many leading characters matched.
    return hmac.compare_digest(expected, signature.strip().lower())


# --- orders and payments (one-off payments) -----------------------------------------------------


def order_create(*, amount: int, currency: str, receipt: str, notes: dict) -> dict:
    return client().order.create({"amount": amount, "currency": currency.upper(), "receipt": receipt, "notes": notes}, timeout=TIMEOUT)


def order_fetch(order_id: str) -> dict:
    return client().order.fetch(order_id, timeout=TIMEOUT)


def order_payments(order_id: str) -> list[dict]:
    return client().order.payments(order_id, timeout=TIMEOUT).get("items") or []


def payment_fetch(payment_id: str) -> dict:
    return client().payment.fetch(payment_id, timeout=TIMEOUT)


def payment_refund(*, payment_id: str, amount: int, notes: dict) -> dict:
    # The SDK's second `refund` (payment_id, data) is the one the class keeps.
    return client().payment.refund(payment_id, {"amount": amount, "notes": notes}, timeout=TIMEOUT)


# --- plans and subscriptions ------------------------------------------------------------------------


def plan_fetch(plan_id: str) -> dict | None:
    try:
        return client().plan.fetch(plan_id, timeout=TIMEOUT)
    except razorpay.errors.BadRequestError:
        return None  # unknown id (deleted, or another account's): a new plan is made


def plan_create(**data: Any) -> dict:
    return client().plan.create(data, timeout=TIMEOUT)


def subscription_create(**data: Any) -> dict:
    return client().subscription.create(data, timeout=TIMEOUT)


def subscription_fetch(subscription_id: str) -> dict:
    return client().subscription.fetch(subscription_id, timeout=TIMEOUT)


def subscription_cancel(subscription_id: str, *, at_cycle_end: bool) -> dict:
    return client().subscription.cancel(subscription_id, {"cancel_at_cycle_end": 1 if at_cycle_end else 0}, timeout=TIMEOUT)
