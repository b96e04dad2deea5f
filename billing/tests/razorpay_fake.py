"""A local fake of the part of Razorpay's HTTP API billing uses, served on 127.0.0.1 by a thread.

The real `razorpay` SDK talks to it over HTTP (RAZORPAY_API_BASE points at it), so its request
encoding, basic auth, response parsing and error mapping all run. Objects live in memory; tests
drive Razorpay-side happenings (a payer paying an order, a subscription activating) through helper
methods and deliver the resulting events to the webhook signed exactly as Razorpay signs them
(X-Razorpay-Signature: hex HMAC-SHA256 of the raw body with the webhook secret).

The pytest fixtures at the end are imported by the Razorpay test modules.
"""

import base64
import copy
import hashlib
import hmac
import itertools
import json
import re
import secrets
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlsplit

import pytest

from core.testing import LocalHTTPServer

KEY_ID = "rzp_test_FakeKeyId0123"
KEY_SECRET = "fake_razorpay_key_secret_0123456789"
WEBHOOK_SECRET = "fake_razorpay_webhook_secret_0123"
ACCOUNT_ID = "acc_FakeRazorpay01"
WEBHOOK_URL = "/api/v1/billing/webhooks/razorpay"
CURRENCIES = {"INR", "USD", "EUR", "GBP", "SGD", "AED", "MYR"}
PERIOD_SECONDS = {"monthly": 30 * 24 * 3600, "yearly": 365 * 24 * 3600}


class RazorpayFailure(Exception):
    """An error answered in Razorpay's JSON shape."""

    def __init__(self, status: int, description: str, *, code: str = "BAD_REQUEST_ERROR", field: str | None = None):
        super().__init__(description)
        self.status, self.description, self.code, self.field = status, description, code, field


def signature(body: str | bytes, secret: str = WEBHOOK_SECRET) -> str:
    """The X-Razorpay-Signature Razorpay would send for `body`."""
    raw = body.encode() if isinstance(body, str) else body
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


class FakeRazorpay:
    """In-memory Razorpay: orders, payments, refunds, plans, subscriptions."""

    def __init__(self):
        self.lock = threading.RLock()
        self._counter = itertools.count(1)
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict] = {}
            self.requests: list[tuple[str, str, dict]] = []
            self.fail_next: RazorpayFailure | None = None
            self.now: int | None = None

    def start(self) -> "FakeRazorpay":
        self.server = LocalHTTPServer(type("Handler", (_Handler,), {"fake": self})).start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    # --- helpers ------------------------------------------------------------------------------------

    def clock(self) -> int:
        return self.now if self.now is not None else int(time.time())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}{secrets.token_hex(4)}"

    def get(self, object_id: str, entity: str) -> dict:
        with self.lock:
            obj = self.objects.get(object_id)
            if obj is None or obj.get("entity") != entity:
                raise RazorpayFailure(400, "The id provided does not exist", field="id")
            return obj

    def calls(self, method: str, path_prefix: str) -> list[dict]:
        return [body for m, path, body in self.requests if m == method and path.startswith(path_prefix)]

    # --- happenings at Razorpay ----------------------------------------------------------------------

    def pay_order(self, order_id: str, *, captured: bool = True) -> dict:
        """The payer paid the order in Razorpay Checkout: a captured payment (or a failed attempt)."""
        with self.lock:
            order = self.get(order_id, "order")
            payment = {
                "id": self.new_id("pay"),
                "entity": "payment",
                "amount": order["amount"],
                "currency": order["currency"],
                "status": "captured" if captured else "failed",
                "order_id": order_id,
                "invoice_id": None,
                "international": False,
                "method": "card",
                "amount_refunded": 0,
                "refund_status": None,
                "captured": captured,
                "description": None,
                "email": "payer@example.test",
                "contact": "+919999999999",
                "notes": copy.deepcopy(order["notes"]),
                "error_code": None if captured else "BAD_REQUEST_ERROR",
                "error_description": None if captured else "Payment failed: card declined",
                "error_reason": None if captured else "card_declined",
                "created_at": self.clock(),
            }
            self.objects[payment["id"]] = payment
            order["attempts"] += 1
            if captured:
                order.update(status="paid", amount_paid=order["amount"], amount_due=0)
            else:
                order["status"] = "attempted"
            return copy.deepcopy(payment)

    def subscription_update(self, subscription_id: str, **fields) -> dict:
        """A change at Razorpay (activation, a charge, a halt): returns the new state."""
        with self.lock:
            subscription = self.get(subscription_id, "subscription")
            subscription.update(fields)
            return copy.deepcopy(subscription)

    def subscription_activate(self, subscription_id: str) -> dict:
        with self.lock:
            subscription = self.get(subscription_id, "subscription")
            plan = self.get(subscription["plan_id"], "plan")
            now = self.clock()
            return self.subscription_update(
                subscription_id,
                status="active",
                current_start=now,
                current_end=now + PERIOD_SECONDS[plan["period"]],
                charge_at=now + PERIOD_SECONDS[plan["period"]],
                paid_count=subscription["paid_count"] + 1,
                remaining_count=subscription["remaining_count"] - 1,
            )

    def event(self, event_type: str, *, created_at: int | None = None, **entities: dict) -> dict:
        """A webhook event as Razorpay would deliver it (entities: payment=, refund=, subscription=, order=)."""
        return {
            "entity": "event",
            "account_id": ACCOUNT_ID,
            "event": event_type,
            "contains": list(entities),
            "payload": {name: {"entity": copy.deepcopy(entity)} for name, entity in entities.items()},
            "created_at": self.clock() if created_at is None else created_at,
        }

    # --- the HTTP API -----------------------------------------------------------------------------------

    ROUTES = [
        ("POST", r"/v1/orders", "create_order"),
        ("GET", r"/v1/orders/(?P<id>[^/]+)", "fetch_order"),
        ("GET", r"/v1/orders/(?P<id>[^/]+)/payments", "order_payments"),
        ("GET", r"/v1/payments/(?P<id>[^/]+)", "fetch_payment"),
        ("POST", r"/v1/payments/(?P<id>[^/]+)/refund", "refund_payment"),
        ("POST", r"/v1/plans", "create_plan"),
        ("GET", r"/v1/plans/(?P<id>[^/]+)", "fetch_plan"),
        ("POST", r"/v1/subscriptions", "create_subscription"),
        ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", "fetch_subscription"),
        ("POST", r"/v1/subscriptions/(?P<id>[^/]+)/cancel", "cancel_subscription"),
    ]

    def handle(self, method: str, path: str, body: dict) -> dict:
        with self.lock:
            self.requests.append((method, path, body))
            if self.fail_next is not None:
                failure, self.fail_next = self.fail_next, None
                raise failure
            for route_method, pattern, name in self.ROUTES:
                match = re.fullmatch(pattern, path)
                if route_method == method and match:
                    return copy.deepcopy(getattr(self, f"_api_{name}")(body, **match.groupdict()))
            raise RazorpayFailure(400, "The requested URL was not found on the server.")

    @staticmethod
    def _amount(body: dict) -> int:
        amount = body.get("amount")
        if not isinstance(amount, int) or amount < 100:
            raise RazorpayFailure(400, "The amount must be atleast INR 1.00", field="amount")
        return amount

    @staticmethod
    def _currency(body: dict) -> str:
        currency = str(body.get("currency") or "INR").upper()
        if currency not in CURRENCIES:
            raise RazorpayFailure(400, "The currency is not supported.", field="currency")
        return currency

    def _api_create_order(self, body):
        order = {
            "id": self.new_id("order"),
            "entity": "order",
            "amount": self._amount(body),
            "amount_paid": 0,
            "amount_due": body["amount"],
            "currency": self._currency(body),
            "receipt": body.get("receipt"),
            "offer_id": None,
            "status": "created",
            "attempts": 0,
            "notes": body.get("notes") or {},
            "created_at": self.clock(),
        }
        self.objects[order["id"]] = order
        return order

    def _api_fetch_order(self, body, id):
        return self.get(id, "order")

    def _api_order_payments(self, body, id):
        self.get(id, "order")
        items = [o for o in self.objects.values() if o.get("entity") == "payment" and o.get("order_id") == id]
        return {"entity": "collection", "count": len(items), "items": items}

    def _api_fetch_payment(self, body, id):
        return self.get(id, "payment")

    def _api_refund_payment(self, body, id):
        payment = self.get(id, "payment")
        if payment["status"] not in ("captured", "refunded"):
            raise RazorpayFailure(400, "Only captured payments can be refunded.")
        remaining = payment["amount"] - payment["amount_refunded"]
        amount = int(body.get("amount") or remaining)
        if amount > remaining:
            raise RazorpayFailure(400, "The refund amount provided is greater than amount captured", field="amount")
        refund = {
            "id": self.new_id("rfnd"),
            "entity": "refund",
            "amount": amount,
            "currency": payment["currency"],
            "payment_id": id,
            "notes": body.get("notes") or {},
            "status": "processed",
            "speed_processed": "normal",
            "created_at": self.clock(),
        }
        self.objects[refund["id"]] = refund
        payment["amount_refunded"] += amount
        payment["refund_status"] = "full" if payment["amount_refunded"] >= payment["amount"] else "partial"
        if payment["refund_status"] == "full":
            payment["status"] = "refunded"
        return refund

    def _api_create_plan(self, body):
        if body.get("period") not in ("daily", "weekly", "monthly", "yearly"):
            raise RazorpayFailure(400, "The period field is invalid.", field="period")
        item = body.get("item") or {}
        plan = {
            "id": self.new_id("plan"),
            "entity": "plan",
            "interval": int(body.get("interval") or 1),
            "period": body["period"],
            "item": {
                "id": self.new_id("item"),
                "name": item.get("name"),
                "amount": self._amount(item),
                "currency": self._currency(item),
                "active": True,
            },
            "notes": body.get("notes") or {},
            "created_at": self.clock(),
        }
        self.objects[plan["id"]] = plan
        return plan

    def _api_fetch_plan(self, body, id):
        return self.get(id, "plan")

    def _api_create_subscription(self, body):
        plan = self.get(body.get("plan_id") or "", "plan")
        subscription_id = self.new_id("sub")
        subscription = {
            "id": subscription_id,
            "entity": "subscription",
            "plan_id": plan["id"],
            "customer_id": None,
            "status": "created",
            "current_start": None,
            "current_end": None,
            "ended_at": None,
            "quantity": int(body.get("quantity") or 1),
            "notes": body.get("notes") or {},
            "charge_at": None,
            "start_at": None,
            "end_at": None,
            "auth_attempts": 0,
            "total_count": int(body["total_count"]),
            "paid_count": 0,
            "customer_notify": bool(body.get("customer_notify", 1)),
            "created_at": self.clock(),
            "expire_by": None,
            "short_url": f"https://rzp.io/i/{subscription_id}",
            "has_scheduled_changes": False,
            "change_scheduled_at": None,
            "remaining_count": int(body["total_count"]),
        }
        self.objects[subscription_id] = subscription
        return subscription

    def _api_fetch_subscription(self, body, id):
        return self.get(id, "subscription")

    def _api_cancel_subscription(self, body, id):
        subscription = self.get(id, "subscription")
        if subscription["status"] in ("cancelled", "completed", "expired"):
            raise RazorpayFailure(400, "Subscription is not cancellable in cancelled status.")
        if not body.get("cancel_at_cycle_end"):
            subscription.update(status="cancelled", ended_at=self.clock())
        else:
            subscription.update(has_scheduled_changes=True, change_scheduled_at=subscription.get("current_end"))
        return subscription


class _Handler(BaseHTTPRequestHandler):
    fake: FakeRazorpay
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length).decode() if length else ""
        try:
            expected = "Basic " + base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
            if self.headers.get("Authorization") != expected:
                raise RazorpayFailure(401, "Authentication failed")
            body = json.loads(raw) if raw else dict(parse_qsl(parts.query))
            answer, status = self.fake.handle(self.command, parts.path, body), 200
        except RazorpayFailure as failure:
            error = {
                "code": failure.code,
                "description": failure.description,
                "source": "business",
                "step": "payment_initiation",
                "reason": "input_validation_failed",
            }
            if failure.field:
                error["field"] = failure.field
            status, answer = failure.status, {"error": error}
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_PATCH = do_DELETE = _serve


# --- pytest fixtures (imported by the Razorpay test modules) -------------------------------------------------


@pytest.fixture(scope="session")
def razorpay_server():
    """One fake Razorpay HTTP server for the whole run."""
    fake = FakeRazorpay().start()
    yield fake
    fake.stop()


@pytest.fixture
def fake_razorpay(razorpay_server, settings) -> FakeRazorpay:
    """The fake, emptied, with the SDK pointed at it and the keys and webhook secret set."""
    razorpay_server.reset()
    settings.RAZORPAY_API_BASE = razorpay_server.url
    settings.RAZORPAY_KEY_ID = KEY_ID
    settings.RAZORPAY_KEY_SECRET = KEY_SECRET
    settings.RAZORPAY_WEBHOOK_SECRET = WEBHOOK_SECRET
    return razorpay_server


def post_razorpay(client, event: dict, *, event_id: str | None = None, secret: str = WEBHOOK_SECRET, sign: bool = True):
    """POST one event to the webhook as Razorpay does (its own event id unless given)."""
    body = json.dumps(event)
    headers = {"HTTP_X_RAZORPAY_EVENT_ID": event_id or f"evt_{secrets.token_hex(8)}"}
    if sign:
        headers["HTTP_X_RAZORPAY_SIGNATURE"] = signature(body, secret)
    return client.post(WEBHOOK_URL, data=body, content_type="application/json", **headers)


@pytest.fixture
def deliver_razorpay(api_client, django_capture_on_commit_callbacks):
    """POST events (each as (event, event_id) or an event) and run what they enqueue (the Celery task, eager)."""

    def send(*events):
        responses = []
        for item in events:
            event, event_id = item if isinstance(item, tuple) else (item, None)
            with django_capture_on_commit_callbacks(execute=True):
                responses.append(post_razorpay(api_client, event, event_id=event_id))
        return responses[0] if len(responses) == 1 else responses

    return send
