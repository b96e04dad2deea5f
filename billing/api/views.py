"""Billing API: public plans, the org's subscription, usage, Stripe records, staff activation, the webhook."""

from djstripe import models as dj
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, PolymorphicProxySerializer, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import permissions as perms
from billing import selectors, webhooks
from billing.api import serializers as s
from billing.services import checkout, manual, payments, subscriptions
from core.actor import actor_of
from core.schema import errors
from core.serializers import body_refuse
from permissions.drf import HasOrgPermission, OrgScopedMixin

TAGS = ["billing"]
ERRORS = errors(400, 403, 404)
STRIPE_ERRORS = {
    409: OpenApiResponse(description="CONFLICT (no subscription, or one already running)"),
    503: OpenApiResponse(description="SERVICE_UNAVAILABLE (Stripe unreachable or not configured)"),
}
STRIPE_ID = [OpenApiParameter("id", str, OpenApiParameter.PATH, description="Stripe id")]


class BillingScoped(OrgScopedMixin):
    """Org-scoped billing route: the org comes from X-Org-ID or the token's active org."""

    # HasOrgPermission answers 401 to an anonymous caller before looking at the org.
    permission_classes = [HasOrgPermission]


def _subscription_body(organization) -> dict:
    return s.SubscriptionSerializer(selectors.subscription_state(organization=organization)).data


# --- public plans ---------------------------------------------------------------------------------------


class PublicView(APIView):
    permission_classes = [AllowAny]
    # Public: a stale or foreign token must not turn a catalog read into a 401.
    authentication_classes = []


class PlanListView(PublicView):
    @extend_schema(operation_id="billing_plans_list", responses={200: s.PlanCatalogSerializer}, tags=TAGS)
    def get(self, request):
        """Plans with their monthly/yearly prices and entitlements."""
        return Response({"data": s.PlanSerializer(selectors.plan_list(), many=True).data})


class PlanCompareView(PublicView):
    @extend_schema(responses={200: s.PlanCompareSerializer}, tags=TAGS)
    def get(self, request):
        """Prices, limits and feature flags side by side, one row each."""
        return Response({"data": s.PlanCompareRowSerializer(selectors.plan_compare(), many=True).data})


class PlanDetailView(PublicView):
    @extend_schema(responses={200: s.PlanSerializer, 404: ERRORS[404]}, tags=TAGS)
    def get(self, request, code):
        """One plan by code."""
        return Response(s.PlanSerializer(selectors.plan_get(code=code)).data)


# --- the org's subscription ---------------------------------------------------------------------------------


class SubscriptionView(BillingScoped, APIView):
    required_permissions = {"GET": perms.BILLING_READ}

    @extend_schema(responses={200: s.SubscriptionSerializer, **ERRORS}, tags=TAGS)
    def get(self, request):
        """The org's plan and subscription (free and active when it never subscribed)."""
        return Response(_subscription_body(self.organization))


class CheckoutView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(
        request=s.CheckoutSerializer,
        responses={200: s.CheckoutResponseSerializer, **ERRORS, **STRIPE_ERRORS},
        tags=TAGS,
    )
    def post(self, request):
        """Start a subscription to a plan (Stripe Checkout, or a Razorpay subscription); send the browser to `checkout_url`."""
        serializer = s.CheckoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        body = checkout.checkout_start(
            organization=self.organization,
            plan_code=data["plan"],
            interval=data["interval"],
            success_url=data.get("success_url"),
            cancel_url=data.get("cancel_url"),
            actor=actor_of(request),
            provider=data["provider"],
        )
        return Response(s.CheckoutResponseSerializer(body).data)


class PortalView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(
        request=s.PortalSerializer,
        responses={200: s.PortalResponseSerializer, **ERRORS, 503: STRIPE_ERRORS[503]},
        tags=TAGS,
    )
    def post(self, request):
        """Open the Stripe Customer Portal for the org; send the browser to `portal_url`."""
        serializer = s.PortalSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = checkout.portal_open(
            organization=self.organization,
            return_url=serializer.validated_data.get("return_url"),
            actor=actor_of(request),
        )
        return Response(s.PortalResponseSerializer(body).data)


class ChangePlanView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(
        request=s.ChangePlanSerializer,
        responses={
            200: PolymorphicProxySerializer(
                component_name="ChangePlanResult",
                serializers=[s.SubscriptionSerializer, s.CheckoutResponseSerializer],
                resource_type_field_name=None,
            ),
            **ERRORS,
            **STRIPE_ERRORS,
        },
        tags=TAGS,
    )
    def post(self, request):
        """Move the Stripe subscription to another plan or interval, prorated; from free, a Checkout for the plan."""
        serializer = s.ChangePlanSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        result = subscriptions.subscription_change_plan_or_checkout(
            organization=self.organization,
            plan_code=data["plan"],
            interval=data.get("interval"),
            proration_date=data.get("proration_date"),
            success_url=data.get("success_url"),
            cancel_url=data.get("cancel_url"),
            actor=actor_of(request),
        )
        if "checkout" in result:
            return Response(s.CheckoutResponseSerializer(result["checkout"]).data)
        return Response(_subscription_body(self.organization))


class AutoRenewView(BillingScoped, APIView):
    required_permissions = {"PUT": perms.BILLING_MANAGE}

    @extend_schema(
        summary="Turn auto-renew on or off",
        request=s.AutoRenewSerializer,
        responses={200: s.SubscriptionSerializer, **ERRORS, **STRIPE_ERRORS},
        tags=TAGS,
    )
    def put(self, request):
        """Renew at the period end or stop there (`cancel_at_period_end`); Stripe and manual subscriptions."""
        serializer = s.AutoRenewSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriptions.subscription_auto_renew_set(organization=self.organization, enabled=serializer.validated_data["enabled"], actor=actor_of(request))
        return Response(_subscription_body(self.organization))


class PreviewChangeView(BillingScoped, APIView):
    required_permissions = {"GET": perms.BILLING_READ}

    @extend_schema(
        parameters=[s.PreviewQuerySerializer],
        responses={200: s.PreviewSerializer, **ERRORS, **STRIPE_ERRORS},
        tags=TAGS,
    )
    def get(self, request):
        """What a plan change would be invoiced now (Stripe's preview, prorations included)."""
        serializer = s.PreviewQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        body = subscriptions.subscription_preview_change(
            organization=self.organization,
            plan_code=serializer.validated_data["plan"],
            interval=serializer.validated_data.get("interval"),
        )
        return Response(s.PreviewSerializer(body).data)


class CancelView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(
        request=s.CancelSerializer,
        responses={200: s.SubscriptionSerializer, **ERRORS, **STRIPE_ERRORS},
        tags=TAGS,
    )
    def post(self, request):
        """Cancel at the end of the period, or now with `{"immediately": true}`."""
        serializer = s.CancelSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        subscriptions.subscription_cancel(
            organization=self.organization,
            immediately=serializer.validated_data["immediately"],
            actor=actor_of(request),
        )
        return Response(_subscription_body(self.organization))


class ReactivateView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(request=None, responses={200: s.SubscriptionSerializer, **ERRORS, **STRIPE_ERRORS}, tags=TAGS)
    def post(self, request):
        """Undo a pending cancellation."""
        body_refuse(request)
        subscriptions.subscription_reactivate(organization=self.organization, actor=actor_of(request))
        return Response(_subscription_body(self.organization))


class ActivateView(APIView):
    permission_classes = [perms.IsStaffUser]

    @extend_schema(request=s.ActivateSerializer, responses={200: s.ActivateResponseSerializer, **ERRORS, 409: STRIPE_ERRORS[409]}, tags=TAGS)
    def post(self, request):
        """Staff: put an org billed outside Stripe on a plan for some months (`provider: manual`)."""
        serializer = s.ActivateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        account = manual.subscription_activate_manual(
            organization_id=data["organization_id"], plan_code=data["plan"], months=data["months"], actor=actor_of(request)
        )
        return Response(s.ActivateResponseSerializer(account).data)


# --- usage -----------------------------------------------------------------------------------------------------


class UsageView(BillingScoped, APIView):
    required_permissions = {"GET": perms.BILLING_READ}

    @extend_schema(responses={200: s.UsageSerializer, **ERRORS}, tags=TAGS)
    def get(self, request):
        """How much of each entitlement the org uses, against the plan's limit."""
        return Response(selectors.usage_summary(organization=self.organization))


class CheckLimitView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_READ}

    @extend_schema(request=s.CheckLimitSerializer, responses={200: s.CheckLimitResponseSerializer, **ERRORS}, tags=TAGS)
    def post(self, request):
        """Whether one more of a usage key fits the plan."""
        serializer = s.CheckLimitSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response(selectors.usage_check(organization=self.organization, key=serializer.validated_data["feature"]))


# --- invoices, payments, payment methods (dj-stripe's synced rows) ------------------------------------------------


class InvoiceListView(BillingScoped, ListAPIView):
    required_permissions = {"GET": perms.BILLING_READ}
    serializer_class = s.InvoiceSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return dj.Invoice.objects.none()
        return selectors.invoice_list(organization=self.organization)

    @extend_schema(responses={200: s.InvoiceSerializer(many=True), **ERRORS}, tags=TAGS)
    def get(self, request, *args, **kwargs):
        """The org's invoices, newest first."""
        return super().get(request, *args, **kwargs)


class InvoiceDetailView(BillingScoped, APIView):
    required_permissions = {"GET": perms.BILLING_READ}

    @extend_schema(parameters=STRIPE_ID, responses={200: s.InvoiceSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, id):
        """One of the org's invoices."""
        return Response(s.InvoiceSerializer(selectors.invoice_get(organization=self.organization, invoice_id=id)).data)


class PaymentMethodListView(BillingScoped, APIView):
    required_permissions = {"GET": perms.BILLING_READ, "POST": perms.BILLING_MANAGE}

    def _body(self, methods) -> list:
        default = selectors.default_payment_method_id(organization=self.organization)
        return s.PaymentMethodSerializer(methods, many=True, context={"default_payment_method_id": default}).data

    @extend_schema(responses={200: s.PaymentMethodListSerializer, **ERRORS}, tags=TAGS)
    def get(self, request):
        """Payment methods of the org's Stripe customer."""
        return Response({"data": self._body(selectors.payment_method_list(organization=self.organization))})

    @extend_schema(
        request=s.PaymentMethodAttachSerializer,
        responses={201: s.PaymentMethodSerializer, **ERRORS, 503: STRIPE_ERRORS[503]},
        tags=TAGS,
    )
    def post(self, request):
        """Attach a Stripe PaymentMethod (the first one, or with `set_default`, becomes the default)."""
        serializer = s.PaymentMethodAttachSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        method = payments.payment_method_attach(
            organization=self.organization,
            payment_method_id=serializer.validated_data["payment_method_id"],
            set_default=serializer.validated_data["set_default"],
            actor=actor_of(request),
        )
        return Response(self._body([method])[0], status=status.HTTP_201_CREATED)


class PaymentMethodDefaultView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(parameters=STRIPE_ID, request=None, responses={200: s.PaymentMethodSerializer, **ERRORS, 503: STRIPE_ERRORS[503]}, tags=TAGS)
    def post(self, request, id):
        """Make a payment method the default for the org's invoices."""
        body_refuse(request)
        method = payments.payment_method_set_default(organization=self.organization, payment_method_id=id, actor=actor_of(request))
        return Response(s.PaymentMethodSerializer(method, context={"default_payment_method_id": method.id}).data)


# --- Stripe webhook ------------------------------------------------------------------------------------------------


class StripeWebhookView(APIView):
    """Stripe's deliveries: authenticated by the Stripe-Signature header alone."""

    permission_classes = [AllowAny]
    # No auth classes: nothing reads a session, so no CSRF check (APIView is csrf_exempt), and a
    # bearer or API key header is irrelevant here. No throttle: Stripe's retries must never be refused.
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        request={"application/json": {"type": "object", "description": "A Stripe Event"}},
        responses={
            200: OpenApiResponse(description="Stored (or already stored); processed asynchronously"),
            400: OpenApiResponse(description="VALIDATION_ERROR: bad signature or payload"),
            503: OpenApiResponse(description="SERVICE_UNAVAILABLE: webhook secret not configured"),
        },
        parameters=[OpenApiParameter("Stripe-Signature", str, OpenApiParameter.HEADER, required=True)],
        tags=TAGS,
    )
    def post(self, request):
        """Receive a Stripe event: verified, stored once by its id, then processed by a task."""
        # The raw body: the signature is over the exact bytes Stripe sent.
        event, created = webhooks.webhook_event_store(payload=request.body, signature=request.META.get("HTTP_STRIPE_SIGNATURE"))
        return Response({"received": True, "duplicate": not created})
