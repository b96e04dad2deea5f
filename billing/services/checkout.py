"""Provider-hosted pages: Checkout (start a subscription, Stripe or Razorpay) and Stripe's Customer Portal."""

from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from billing import gateway
from billing.models import Plan, Subscription
from billing.services.customers import account_for_update, customer_ensure
from billing.services.plans import plan_purchasable, plan_quantity
from billing.services.razorpay import checkout_start_razorpay
from core.actor import Actor
from core.exceptions import conflict, validation_error


def _frontend_url(url: str | None, *, default_path: str, field: str) -> str:
    """A return URL on the front end's origin (default: FRONTEND_URL + path)."""
    if not url:
        return settings.FRONTEND_URL + default_path
    allowed = {_origin(settings.FRONTEND_URL), *(_origin(o) for o in settings.CORS_ALLOWED_ORIGINS)}
    # Stripe redirects the browser there after payment: only our own front end, never an open redirect.
    if _origin(url) not in allowed:
        raise validation_error(field, "Must be a URL of the web app.")
    return url


def plan_purchasable_razorpay(plan_code: str) -> Plan:
    """The active paid plan an org may subscribe to through Razorpay."""
    plan = Plan.objects.filter(code=plan_code, is_active=True).first()
    if plan is None:
        raise validation_error("plan", "Unknown plan.")
    if plan.is_free:
        raise validation_error("plan", "The free plan needs no subscription.")
    return plan


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


@transaction.atomic
def checkout_start(
    *,
    organization,
    plan_code: str,
    interval: str,
    success_url: str | None,
    cancel_url: str | None,
    actor: Actor,
    provider: str = Subscription.Provider.STRIPE,
) -> dict:
    """Start a subscription to a plan: a Stripe Checkout Session, or a Razorpay subscription: {checkout_url, session_id}."""
    if provider == Subscription.Provider.RAZORPAY:
        plan = plan_purchasable_razorpay(plan_code)
    else:
        plan, price_id = plan_purchasable(plan_code, interval)
    success_url = _frontend_url(success_url, default_path="/billing/success?session_id={CHECKOUT_SESSION_ID}", field="success_url")
    cancel_url = _frontend_url(cancel_url, default_path="/billing", field="cancel_url")
    account = account_for_update(organization=organization)
    if account.is_entitled() and account.provider == Subscription.Provider.STRIPE and account.stripe_subscription_id:
        raise conflict("The organization already has a subscription: change its plan instead.")
    if account.is_entitled() and account.provider == Subscription.Provider.RAZORPAY and account.razorpay_subscription_id:
        raise conflict("The organization already has a Razorpay subscription.")
    if account.is_entitled() and account.provider == Subscription.Provider.MANUAL:
        raise conflict("The organization is billed outside Stripe until its manual subscription ends.")
    if provider == Subscription.Provider.RAZORPAY:
        return checkout_start_razorpay(organization=organization, account=account, plan=plan, interval=interval, success_url=success_url, actor=actor)
    customer_id = customer_ensure(account=account, actor=actor)
    metadata = {"organization_id": str(organization.id), "plan": plan.code, "interval": interval}
    with gateway.errors():
        session = gateway.checkout_session_create(
            mode="subscription",
            customer=customer_id,
            client_reference_id=str(organization.id),
            line_items=[{"price": price_id, "quantity": plan_quantity(plan, organization)}],
            subscription_data={"metadata": metadata},
            metadata=metadata,
            success_url=success_url,
            cancel_url=cancel_url,
        )
    return {"checkout_url": session["url"], "session_id": session["id"]}


@transaction.atomic
def portal_open(*, organization, return_url: str | None, actor: Actor) -> dict:
    """Open a Stripe Customer Portal session: {portal_url}."""
    return_url = _frontend_url(return_url, default_path="/billing", field="return_url")
    account = account_for_update(organization=organization)
    customer_id = customer_ensure(account=account, actor=actor)
    with gateway.errors():
        session = gateway.portal_session_create(customer_id=customer_id, return_url=return_url)
    return {"portal_url": session["url"]}
