"""A local fake of the part of Stripe's HTTP API billing uses, served on 127.0.0.1 by a thread.

The real `stripe` library (and dj-stripe through it) talks to it over HTTP, so their request
encoding, response parsing and error handling all run. Objects live in memory; tests drive
Stripe-side happenings (a checkout completing, a renewal failing) through helper methods and
deliver the resulting events to the webhook signed exactly as Stripe signs them.
"""

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

from core.testing import LocalHTTPServer

ACCOUNT_ID = "acct_1FakeStripeAccount"
API_VERSION = "2026-08-26.dahlia"
PERIOD = 30 * 24 * 3600


class StripeFailure(Exception):
    """An error answered in Stripe's JSON shape."""

    def __init__(self, status: int, message: str, *, code: str = "resource_missing", param: str | None = None, kind: str = "invalid_request_error"):
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.kind = status, message, code, param, kind


def decode_form(pairs: list[tuple[str, str]]) -> dict:
    """Stripe's form encoding (`a[b][0][c]=v`) back into nested dicts and lists."""
    root: dict = {}
    for key, value in pairs:
        parts = re.findall(r"[^\[\]]+|\[\]", key)
        node = root
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            if last:
                node[part] = value
            else:
                node = node.setdefault(part, {})
    return _lists(root)


def _lists(value):
    if isinstance(value, dict):
        converted = {k: _lists(v) for k, v in value.items()}
        if converted and all(k.isdigit() for k in converted):
            return [converted[k] for k in sorted(converted, key=int)]
        return converted
    return value


def _bool(value) -> bool:
    return value in (True, "true", "True", "1")


def _int(value):
    return None if value in (None, "") else int(value)


def signature_header(payload: str, secret: str, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe would send for `payload`."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{timestamp}.{payload}".encode(), hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


class FakeStripe:
    """In-memory Stripe: customers, products, prices, checkout, portal, subscriptions, invoices, charges."""

    def __init__(self):
        self.lock = threading.RLock()
        self.requests: list[tuple[str, str, dict]] = []
        self._counter = itertools.count(1)
        self.fail_next: StripeFailure | None = None
        self.reset()

    # --- lifecycle ---------------------------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.objects: dict[str, dict] = {}
            self.idempotent: dict[str, tuple[int, dict]] = {}
            self.requests = []
            self.fail_next = None
            self.now = None  # frozen "Stripe clock" when set

    def start(self) -> "FakeStripe":
        self.server = LocalHTTPServer(type("Handler", (_Handler,), {"fake": self})).start()
        return self

    def stop(self) -> None:
        self.server.stop()

    @property
    def url(self) -> str:
        return self.server.url

    # --- helpers ---------------------------------------------------------------------------------------

    def clock(self) -> int:
        return self.now if self.now is not None else int(time.time())

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._counter):06d}{secrets.token_hex(6)}"

    def get(self, object_id: str, kind: str | None = None) -> dict:
        with self.lock:
            obj = self.objects.get(object_id)
            if obj is None or (kind and obj.get("object") != kind):
                raise StripeFailure(404, f"No such {kind or 'object'}: '{object_id}'", param="id")
            return obj

    def public(self, obj):
        """A response copy: nested prices expanded the way Stripe returns them."""
        return copy.deepcopy(obj)

    def calls(self, method: str, path_prefix: str) -> list[dict]:
        return [params for m, path, params in self.requests if m == method and path.startswith(path_prefix)]

    def _list(self, items: list[dict], url: str) -> dict:
        return {"object": "list", "data": [self.public(i) for i in items], "has_more": False, "url": url}

    # --- objects made "by Stripe" -------------------------------------------------------------------------

    def account(self) -> dict:
        return {
            "id": ACCOUNT_ID,
            "object": "account",
            "type": "standard",
            "country": "US",
            "default_currency": "usd",
            "email": "billing@example.test",
            "business_profile": {"name": "Fake Stripe Account", "url": None},
            "settings": {"dashboard": {"display_name": "Fake"}, "branding": {}},
            "charges_enabled": True,
            "payouts_enabled": True,
            "details_submitted": True,
            "created": 1_600_000_000,
            "metadata": {},
        }

    def payment_method_create(self, *, brand: str = "visa", last4: str = "4242") -> dict:
        """A PaymentMethod as Stripe.js would create it (not attached yet)."""
        with self.lock:
            pm = {
                "id": self.new_id("pm"),
                "object": "payment_method",
                "type": "card",
                "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034, "country": "US", "funding": "credit"},
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
                "customer": None,
                "created": self.clock(),
                "livemode": False,
                "metadata": {},
            }
            self.objects[pm["id"]] = pm
            return pm

    def checkout_complete(self, session_id: str) -> tuple[dict, dict]:
        """The customer paid: the session completes and its subscription starts (status active)."""
        with self.lock:
            session = self.get(session_id, "checkout.session")
            line = session["_line_items"][0]
            subscription = self._subscription_create(
                customer=session["customer"],
                price_id=line["price"],
                quantity=_int(line.get("quantity")) or 1,
                metadata=(session.get("_subscription_data") or {}).get("metadata") or {},
            )
            session.update(status="complete", payment_status="paid", subscription=subscription["id"])
            self.invoice_create(subscription_id=subscription["id"], paid=True)
            return self.public(session), self.public(subscription)

    def checkout_pay(self, session_id: str, *, paid: bool = True) -> dict:
        """A one-off (payment mode) checkout: the payer paid (a PaymentIntent with its charge), or the session expired."""
        with self.lock:
            session = self.get(session_id, "checkout.session")
            if not paid:
                session.update(status="expired")
                return self.public(session)
            charge = self.charge_create(customer=session["customer"], amount=session["amount_total"], currency=session["currency"])
            intent = {
                "id": self.new_id("pi"),
                "object": "payment_intent",
                "amount": session["amount_total"],
                "currency": session["currency"],
                "customer": session["customer"],
                "status": "succeeded",
                "latest_charge": charge["id"],
                "metadata": (session.get("_payment_intent_data") or {}).get("metadata") or {},
                "created": self.clock(),
                "livemode": False,
            }
            self.objects[intent["id"]] = intent
            self.objects[charge["id"]]["payment_intent"] = intent["id"]
            session.update(status="complete", payment_status="paid", payment_intent=intent["id"])
            return self.public(session)

    def _subscription_create(self, *, customer: str, price_id: str, quantity: int, metadata: dict) -> dict:
        now = self.clock()
        sub_id = self.new_id("sub")
        item = {
            "id": self.new_id("si"),
            "object": "subscription_item",
            "subscription": sub_id,
            "price": copy.deepcopy(self.get(price_id, "price")),
            "quantity": quantity,
            "created": now,
            "metadata": {},
            "tax_rates": [],
            "current_period_start": now,
            "current_period_end": now + PERIOD,
        }
        subscription = {
            "id": sub_id,
            "object": "subscription",
            "customer": customer,
            "status": "active",
            "created": now,
            "start_date": now,
            "billing_cycle_anchor": now,
            "current_period_start": now,
            "current_period_end": now + PERIOD,
            "cancel_at_period_end": False,
            "cancel_at": None,
            "canceled_at": None,
            "ended_at": None,
            "collection_method": "charge_automatically",
            "default_payment_method": None,
            "default_tax_rates": [],
            "discounts": [],
            "items": {"object": "list", "data": [item], "has_more": False, "url": f"/v1/subscription_items?subscription={sub_id}"},
            "latest_invoice": None,
            "livemode": False,
            "metadata": dict(metadata),
            "trial_end": None,
            "trial_start": None,
        }
        self.objects[sub_id] = subscription
        return subscription

    def subscription_update(self, subscription_id: str, **fields) -> dict:
        """A change made at Stripe (portal, dashboard, dunning): returns the new state."""
        with self.lock:
            subscription = self.get(subscription_id, "subscription")
            subscription.update(fields)
            return self.public(subscription)

    def invoice_create(self, *, subscription_id: str, paid: bool, amount: int | None = None) -> dict:
        """An invoice for the subscription's current period, paid (with a charge) or open after a failed attempt."""
        with self.lock:
            subscription = self.get(subscription_id, "subscription")
            item = subscription["items"]["data"][0]
            total = amount if amount is not None else item["price"]["unit_amount"] * item["quantity"]
            now = self.clock()
            invoice = {
                "id": self.new_id("in"),
                "object": "invoice",
                "customer": subscription["customer"],
                "status": "paid" if paid else "open",
                "number": f"FAKE-{next(self._counter):04d}",
                "currency": item["price"]["currency"],
                "amount_due": total,
                "amount_paid": total if paid else 0,
                "amount_remaining": 0 if paid else total,
                "subtotal": total,
                "total": total,
                "attempt_count": 1,
                "attempted": True,
                "billing_reason": "subscription_cycle",
                "collection_method": "charge_automatically",
                "created": now,
                "period_start": subscription["current_period_start"],
                "period_end": subscription["current_period_end"],
                "due_date": None,
                "next_payment_attempt": None if paid else now + 3 * 24 * 3600,
                "hosted_invoice_url": f"https://invoice.stripe.test/i/{now}",
                "invoice_pdf": f"https://invoice.stripe.test/i/{now}/pdf",
                "lines": {"object": "list", "data": [], "has_more": False, "url": "/v1/invoices/lines"},
                "parent": {"type": "subscription_details", "subscription_details": {"subscription": subscription_id, "metadata": {}}},
                "discounts": [],
                "default_payment_method": None,
                "livemode": False,
                "metadata": {},
                "webhooks_delivered_at": now,
            }
            self.objects[invoice["id"]] = invoice
            if paid:
                self.charge_create(customer=subscription["customer"], amount=total, currency=invoice["currency"], description=f"Invoice {invoice['number']}")
            subscription["latest_invoice"] = invoice["id"]
            return self.public(invoice)

    def charge_create(self, *, customer: str, amount: int, currency: str = "usd", description: str = "", paid: bool = True) -> dict:
        with self.lock:
            customer_obj = self.get(customer, "customer")
            pm_id = customer_obj["invoice_settings"].get("default_payment_method")
            charge_id = self.new_id("ch")
            charge = {
                "id": charge_id,
                "object": "charge",
                "amount": amount,
                "amount_captured": amount if paid else 0,
                "amount_refunded": 0,
                "currency": currency,
                "customer": customer,
                "created": self.clock(),
                "status": "succeeded" if paid else "failed",
                "paid": paid,
                "captured": paid,
                "refunded": False,
                "description": description,
                "balance_transaction": None,
                "payment_intent": None,
                "payment_method": pm_id,
                "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242"}},
                "receipt_url": f"https://pay.stripe.test/receipts/{charge_id}",
                "refunds": {"object": "list", "data": [], "has_more": False, "url": f"/v1/charges/{charge_id}/refunds"},
                "source": None,
                "livemode": False,
                "metadata": {},
                "fraud_details": {},
                "outcome": None,
                "billing_details": {"address": None, "email": None, "name": None, "phone": None},
            }
            self.objects[charge_id] = charge
            return self.public(charge)

    def event(self, type_: str, obj: dict, *, created: int | None = None, previous_attributes: dict | None = None) -> dict:
        """An Event as Stripe would deliver it."""
        data = {"object": copy.deepcopy(obj)}
        if previous_attributes is not None:
            data["previous_attributes"] = previous_attributes
        return {
            "id": self.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": self.clock() if created is None else created,
            "data": data,
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": type_,
        }

    # --- the HTTP API ----------------------------------------------------------------------------------

    ROUTES = [
        ("GET", r"/v1/account", "get_account"),
        ("POST", r"/v1/customers", "create_customer"),
        ("GET", r"/v1/customers/(?P<id>[^/]+)", "retrieve"),
        ("POST", r"/v1/customers/(?P<id>[^/]+)", "update_customer"),
        ("POST", r"/v1/products", "create_product"),
        ("GET", r"/v1/products/(?P<id>[^/]+)", "retrieve"),
        ("GET", r"/v1/products/(?P<id>[^/]+)/features", "list_product_features"),
        ("POST", r"/v1/products/(?P<id>[^/]+)", "update_plain"),
        ("POST", r"/v1/prices", "create_price"),
        ("GET", r"/v1/prices", "list_prices"),
        ("GET", r"/v1/prices/(?P<id>[^/]+)", "retrieve"),
        ("POST", r"/v1/prices/(?P<id>[^/]+)", "update_price"),
        ("POST", r"/v1/checkout/sessions", "create_checkout_session"),
        ("GET", r"/v1/checkout/sessions/(?P<id>[^/]+)", "retrieve"),
        ("GET", r"/v1/payment_intents/(?P<id>[^/]+)", "retrieve"),
        ("POST", r"/v1/billing_portal/sessions", "create_portal_session"),
        ("GET", r"/v1/subscriptions", "list_subscriptions"),
        ("GET", r"/v1/subscriptions/(?P<id>[^/]+)", "retrieve"),
        ("POST", r"/v1/subscriptions/(?P<id>[^/]+)", "update_subscription"),
        ("DELETE", r"/v1/subscriptions/(?P<id>[^/]+)", "cancel_subscription"),
        ("POST", r"/v1/invoices/create_preview", "preview_invoice"),
        ("GET", r"/v1/invoices/(?P<id>[^/]+)", "retrieve"),
        ("GET", r"/v1/charges/(?P<id>[^/]+)", "retrieve"),
        ("POST", r"/v1/refunds", "create_refund"),
        ("GET", r"/v1/refunds/(?P<id>[^/]+)", "retrieve"),
        ("GET", r"/v1/payment_methods/(?P<id>[^/]+)", "retrieve"),
        ("POST", r"/v1/payment_methods/(?P<id>[^/]+)/attach", "attach_payment_method"),
        ("POST", r"/v1/payment_methods/(?P<id>[^/]+)/detach", "detach_payment_method"),
    ]

    def handle(self, method: str, path: str, params: dict, headers) -> tuple[int, dict]:
        with self.lock:
            self.requests.append((method, path, params))
            if self.fail_next is not None:
                failure, self.fail_next = self.fail_next, None
                raise failure
            key = headers.get("Idempotency-Key")
            if method == "POST" and key and key in self.idempotent:
                return self.idempotent[key]
            for route_method, pattern, name in self.ROUTES:
                match = re.fullmatch(pattern, path)
                if route_method == method and match:
                    result = getattr(self, f"_api_{name}")(params, **match.groupdict())
                    answer = (200, self.public(result))
                    if method == "POST" and key:
                        self.idempotent[key] = answer
                    return answer
            raise StripeFailure(404, f"Unrecognized request URL ({method}: {path}).", code="", param=None)

    def _api_get_account(self, params):
        return self.account()

    def _api_retrieve(self, params, id):
        return self.get(id)

    def _api_create_customer(self, params):
        customer = {
            "id": self.new_id("cus"),
            "object": "customer",
            "email": params.get("email"),
            "name": params.get("name"),
            "metadata": params.get("metadata") or {},
            "created": self.clock(),
            "livemode": False,
            "balance": 0,
            "currency": None,
            "delinquent": False,
            "default_source": None,
            "description": None,
            "invoice_prefix": "FAKE",
            "invoice_settings": {"default_payment_method": None, "custom_fields": None, "footer": None},
        }
        self.objects[customer["id"]] = customer
        return customer

    def _api_update_customer(self, params, id):
        customer = self.get(id, "customer")
        settings = params.get("invoice_settings") or {}
        if "default_payment_method" in settings:
            pm_id = settings["default_payment_method"] or None
            if pm_id and self.get(pm_id, "payment_method").get("customer") != id:
                raise StripeFailure(
                    400, "The payment method is not attached to this customer.", code="invalid", param="invoice_settings[default_payment_method]"
                )
            customer["invoice_settings"]["default_payment_method"] = pm_id
        for field in ("name", "email"):
            if field in params:
                customer[field] = params[field]
        if "metadata" in params:
            customer["metadata"].update(params["metadata"])
        return customer

    def _api_create_product(self, params):
        product_id = params.get("id") or self.new_id("prod")
        if product_id in self.objects:
            raise StripeFailure(400, f"Product already exists: {product_id}", code="resource_already_exists", param="id")
        product = {
            "id": product_id,
            "object": "product",
            "name": params["name"],
            "description": params.get("description"),
            "active": _bool(params.get("active", "true")),
            "metadata": params.get("metadata") or {},
            "created": self.clock(),
            "updated": self.clock(),
            "livemode": False,
            "default_price": None,
            "type": "service",
            "url": None,
            "unit_label": None,
            "marketing_features": [],
        }
        self.objects[product_id] = product
        return product

    def _api_list_product_features(self, params, id):
        self.get(id, "product")
        return self._list([], f"/v1/products/{id}/features")

    def _api_update_plain(self, params, id):
        obj = self.get(id)
        for key, value in params.items():
            if key == "metadata":
                obj["metadata"].update(value)
            elif key == "active":
                obj["active"] = _bool(value)
            elif key != "expand":
                obj[key] = value
        return obj

    def _api_create_price(self, params):
        self.get(params["product"], "product")
        lookup_key = params.get("lookup_key")
        if lookup_key:
            for other in self.objects.values():
                if other.get("object") == "price" and other.get("lookup_key") == lookup_key:
                    if not _bool(params.get("transfer_lookup_key")):
                        raise StripeFailure(400, "A price with this lookup key already exists.", code="lookup_key_exists", param="lookup_key")
                    other["lookup_key"] = None
        amount = int(params["unit_amount"])
        price = {
            "id": self.new_id("price"),
            "object": "price",
            "active": True,
            "billing_scheme": "per_unit",
            "currency": params["currency"],
            "unit_amount": amount,
            "unit_amount_decimal": str(amount),
            "recurring": {
                "interval": params["recurring"]["interval"],
                "interval_count": 1,
                "usage_type": "licensed",
                "aggregate_usage": None,
                "trial_period_days": None,
            },
            "product": params["product"],
            "lookup_key": lookup_key,
            "nickname": params.get("nickname"),
            "metadata": params.get("metadata") or {},
            "type": "recurring",
            "tiers_mode": None,
            "transform_quantity": None,
            "tax_behavior": "unspecified",
            "created": self.clock(),
            "livemode": False,
        }
        self.objects[price["id"]] = price
        return price

    def _api_list_prices(self, params):
        keys = params.get("lookup_keys") or []
        keys = keys if isinstance(keys, list) else [keys]
        found = [o for o in self.objects.values() if o.get("object") == "price" and (not keys or o.get("lookup_key") in keys)]
        return self._list(found, "/v1/prices")

    def _api_update_price(self, params, id):
        price = self.get(id, "price")
        if "active" in params:
            price["active"] = _bool(params["active"])
        if "metadata" in params:
            price["metadata"].update(params["metadata"])
        return price

    def _api_create_checkout_session(self, params):
        if params.get("mode") not in ("subscription", "payment"):
            raise StripeFailure(400, "Only subscription and payment modes are faked.", code="invalid", param="mode")
        customer = self.get(params["customer"], "customer")
        for line in params["line_items"]:
            if "price_data" in line:
                if int(line["price_data"]["unit_amount"]) < 50:
                    raise StripeFailure(400, "Amount must be at least 50 cents.", code="amount_too_small", param="line_items[0][price_data][unit_amount]")
                continue
            self.get(line["price"], "price")
        session_id = self.new_id("cs_test")
        session = {
            "id": session_id,
            "object": "checkout.session",
            "url": f"https://checkout.stripe.test/c/pay/{session_id}",
            "mode": params["mode"],
            "customer": customer["id"],
            "client_reference_id": params.get("client_reference_id"),
            "metadata": params.get("metadata") or {},
            "status": "open",
            "payment_status": "unpaid",
            "subscription": None,
            "payment_intent": None,
            "setup_intent": None,
            "success_url": params["success_url"],
            "cancel_url": params.get("cancel_url"),
            "created": self.clock(),
            "expires_at": self.clock() + 24 * 3600,
            "livemode": False,
            "_line_items": params["line_items"],
            "_subscription_data": params.get("subscription_data") or {},
            "_payment_intent_data": params.get("payment_intent_data") or {},
        }
        if params["mode"] == "payment":
            session["amount_total"] = sum(int(line["price_data"]["unit_amount"]) * int(line.get("quantity") or 1) for line in params["line_items"])
            session["currency"] = params["line_items"][0]["price_data"]["currency"]
        self.objects[session_id] = session
        return session

    def _api_create_portal_session(self, params):
        self.get(params["customer"], "customer")
        session_id = self.new_id("bps")
        return {
            "id": session_id,
            "object": "billing_portal.session",
            "url": f"https://billing.stripe.test/p/session/{session_id}",
            "customer": params["customer"],
            "return_url": params.get("return_url"),
            "created": self.clock(),
            "livemode": False,
        }

    def _api_list_subscriptions(self, params):
        found = [o for o in self.objects.values() if o.get("object") == "subscription" and o["customer"] == params.get("customer")]
        if params.get("status") not in (None, "all"):
            found = [o for o in found if o["status"] == params["status"]]
        return self._list(found, "/v1/subscriptions")

    def _api_update_subscription(self, params, id):
        subscription = self.get(id, "subscription")
        if subscription["status"] == "canceled":
            raise StripeFailure(400, "A canceled subscription can only update its cancellation_details and metadata.", code="invalid", param=None)
        for change in params.get("items") or []:
            if not change.get("id"):
                # No id: a new item (an add-on) on the subscription.
                subscription["items"]["data"].append(self._item_new(subscription, change))
                continue
            item = next((i for i in subscription["items"]["data"] if i["id"] == change.get("id")), None)
            if item is None:
                raise StripeFailure(400, f"No such subscription item: '{change.get('id')}'", param="items")
            if _bool(change.get("deleted")):
                subscription["items"]["data"].remove(item)
                continue
            if change.get("price"):
                item["price"] = copy.deepcopy(self.get(change["price"], "price"))
            if change.get("quantity") not in (None, ""):
                item["quantity"] = int(change["quantity"])
        self._intervals_check(subscription["items"]["data"])
        if "cancel_at_period_end" in params:
            subscription["cancel_at_period_end"] = _bool(params["cancel_at_period_end"])
            subscription["canceled_at"] = self.clock() if subscription["cancel_at_period_end"] else None
        if "metadata" in params:
            subscription["metadata"].update(params["metadata"])
        return subscription

    def _api_cancel_subscription(self, params, id):
        subscription = self.get(id, "subscription")
        now = self.clock()
        subscription.update(status="canceled", canceled_at=now, ended_at=now, cancel_at_period_end=False)
        return subscription

    def _item_new(self, subscription: dict, change: dict) -> dict:
        price = self.get(change.get("price") or "", "price")
        if any(i["price"]["id"] == price["id"] for i in subscription["items"]["data"]):
            raise StripeFailure(400, "Cannot add multiple subscription items with the same plan.", code="invalid", param="items")
        return {
            "id": self.new_id("si"),
            "object": "subscription_item",
            "subscription": subscription["id"],
            "price": copy.deepcopy(price),
            "quantity": _int(change.get("quantity")) or 1,
            "created": self.clock(),
            "metadata": change.get("metadata") or {},
            "tax_rates": [],
            "current_period_start": subscription["current_period_start"],
            "current_period_end": subscription["current_period_end"],
        }

    @staticmethod
    def _intervals_check(items: list[dict]) -> None:
        if len({i["price"]["recurring"]["interval"] for i in items}) > 1:
            raise StripeFailure(400, "All prices on a subscription must have the same recurring interval.", code="invalid", param="items")

    def _api_preview_invoice(self, params):
        """The next invoice if `subscription_details.items` applied now: prorations of changed items, then the next period."""
        subscription = self.get(params["subscription"], "subscription")
        details = params.get("subscription_details") or {}
        before = {i["id"]: (i["price"], i["quantity"]) for i in subscription["items"]["data"]}
        after = dict(before)
        new_lines = []
        for change in details.get("items") or []:
            if not change.get("id"):
                price = self.get(change.get("price") or "", "price")
                new_lines.append((price, _int(change.get("quantity")) or 1))
                continue
            if change["id"] not in before:
                raise StripeFailure(400, f"No such subscription item: '{change['id']}'", param="subscription_details[items]")
            if _bool(change.get("deleted")):
                after.pop(change["id"])
                continue
            price, quantity = before[change["id"]]
            after[change["id"]] = (self.get(change["price"], "price") if change.get("price") else price, _int(change.get("quantity")) or quantity)
        at = int(details.get("proration_date") or self.clock())
        start, end = subscription["current_period_start"], subscription["current_period_end"]
        fraction = max(0.0, min(1.0, (end - at) / (end - start)))
        lines = []
        for item_id, (price, quantity) in before.items():
            new = after.get(item_id)
            if new is not None and new[0]["id"] == price["id"] and new[1] == quantity:
                continue  # unchanged: no proration
            lines.append(
                {
                    "description": f"Unused time on {price['nickname']}",
                    "amount": -round(price["unit_amount"] * quantity * fraction),
                    "proration": True,
                    "period": {"start": at, "end": end},
                }
            )
            if new is not None:
                lines.append(
                    {
                        "description": f"Remaining time on {new[0]['nickname']}",
                        "amount": round(new[0]["unit_amount"] * new[1] * fraction),
                        "proration": True,
                        "period": {"start": at, "end": end},
                    }
                )
        for price, quantity in new_lines:
            lines.append(
                {
                    "description": f"Remaining time on {price['nickname']}",
                    "amount": round(price["unit_amount"] * quantity * fraction),
                    "proration": True,
                    "period": {"start": at, "end": end},
                }
            )
        for price, quantity in [*after.values(), *new_lines]:
            lines.append(
                {
                    "description": f"{price['nickname']} (next period)",
                    "amount": price["unit_amount"] * quantity,
                    "proration": False,
                    "period": {"start": end, "end": end + PERIOD},
                }
            )
        total = sum(line["amount"] for line in lines)
        currency = next(iter(after.values()), next(iter(new_lines), (subscription["items"]["data"][0]["price"], 1)))[0]["currency"]
        return {
            "id": None,
            "object": "invoice",
            "customer": subscription["customer"],
            "currency": currency,
            "amount_due": max(total, 0),
            "subtotal": total,
            "total": total,
            "lines": self._list([{"object": "line_item", "id": self.new_id("il_tmp"), **line} for line in lines], "/v1/invoices/upcoming/lines"),
            "livemode": False,
        }

    def _api_create_refund(self, params):
        charge = self.get(params["charge"], "charge")
        remaining = charge["amount"] - charge["amount_refunded"]
        amount = _int(params.get("amount")) or remaining
        if amount > remaining:
            raise StripeFailure(400, "Refund amount is greater than unrefunded amount on charge.", code="amount_too_large", param="amount")
        refund = {
            "id": self.new_id("re"),
            "object": "refund",
            "amount": amount,
            "charge": charge["id"],
            "currency": charge["currency"],
            "status": "succeeded",
            "reason": params.get("reason") or None,
            "created": self.clock(),
            "balance_transaction": None,
            "payment_intent": None,
            "metadata": {},
            "receipt_number": None,
        }
        self.objects[refund["id"]] = refund
        charge["amount_refunded"] += amount
        charge["refunded"] = charge["amount_refunded"] >= charge["amount"]
        charge["refunds"]["data"].append(copy.deepcopy(refund))
        return refund

    def _api_attach_payment_method(self, params, id):
        pm = self.get(id, "payment_method")
        customer = self.get(params["customer"], "customer")
        if pm["customer"] and pm["customer"] != customer["id"]:
            raise StripeFailure(
                400, "This PaymentMethod is already attached to another customer.", code="payment_method_unexpected_state", param="payment_method"
            )
        pm["customer"] = customer["id"]
        return pm

    def _api_detach_payment_method(self, params, id):
        pm = self.get(id, "payment_method")
        if not pm["customer"]:
            raise StripeFailure(
                400, "The payment method you provided is not attached to a customer.", code="payment_method_unexpected_state", param="payment_method"
            )
        customer = self.get(pm["customer"], "customer")
        if customer["invoice_settings"].get("default_payment_method") == id:
            customer["invoice_settings"]["default_payment_method"] = None
        pm["customer"] = None
        return pm


class _Handler(BaseHTTPRequestHandler):
    fake: FakeStripe
    protocol_version = "HTTP/1.1"

    def log_message(self, *args) -> None:  # quiet
        pass

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms each.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        pairs = parse_qsl(parts.query, keep_blank_values=True) + parse_qsl(body, keep_blank_values=True)
        params = decode_form(pairs)
        params.pop("expand", None)
        try:
            if not (self.headers.get("Authorization") or "").startswith("Bearer sk_test_"):
                raise StripeFailure(401, "Invalid API Key provided.", code="", kind="invalid_request_error")
            status, answer = self.fake.handle(self.command, parts.path, params, self.headers)
        except StripeFailure as failure:
            error = {"type": failure.kind, "message": failure.message}
            if failure.code:
                error["code"] = failure.code
            if failure.param:
                error["param"] = failure.param
            status, answer = failure.status, {"error": error}
        answer = _strip_private(answer)
        data = json.dumps(answer).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", f"req_{secrets.token_hex(6)}")
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_POST = do_DELETE = _serve


def _strip_private(value):
    if isinstance(value, dict):
        return {k: _strip_private(v) for k, v in value.items() if not k.startswith("_")}
    if isinstance(value, list):
        return [_strip_private(v) for v in value]
    return value
