"""Payments API: the org's payments (Stripe charges and one-off payments), one-off payment create and
verify, refunds, one payment method, and Razorpay's webhook."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.generics import ListAPIView
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import permissions as perms
from billing import razorpay_webhooks, selectors
from billing.api import serializers as s
from billing.api.views import ERRORS, STRIPE_ERRORS, TAGS, BillingScoped
from billing.models import Payment
from billing.services import oneoff, payments
from core.actor import actor_of
from core.exceptions import not_found
from core.serializers import body_refuse

PAYMENT_ID = [OpenApiParameter("id", str, OpenApiParameter.PATH, description="A one-off payment's UUID, or a Stripe charge id (ch_...)")]
ONEOFF_ID = [OpenApiParameter("id", str, OpenApiParameter.PATH, description="A one-off payment's UUID")]
PROVIDER_ERRORS = {
    409: OpenApiResponse(description="CONFLICT (not refundable in its state)"),
    503: OpenApiResponse(description="SERVICE_UNAVAILABLE (the provider is unreachable or not configured)"),
}


def _item(result) -> dict:
    return selectors.oneoff_item(result) if isinstance(result, Payment) else selectors.charge_item(result)


class PaymentListView(BillingScoped, ListAPIView):
    required_permissions = {"GET": perms.BILLING_READ, "POST": perms.BILLING_MANAGE}
    serializer_class = s.PaymentSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Payment.objects.none()
        return selectors.payment_feed(organization=self.organization)

    @extend_schema(summary="List the org's payments", responses={200: s.PaymentSerializer(many=True), **ERRORS}, tags=TAGS)
    def get(self, request, *args, **kwargs):
        """Stripe charges (invoices) and one-off payments, newest first; `kind` tells them apart."""
        return super().get(request, *args, **kwargs)

    @extend_schema(
        summary="Start a one-off payment",
        request=s.PaymentCreateSerializer,
        responses={201: s.PaymentCreatedSerializer, **ERRORS, 503: PROVIDER_ERRORS[503]},
        tags=TAGS,
    )
    def post(self, request):
        """Create a one-off payment (Stripe Checkout or a Razorpay order); send the payer to `checkout_url`."""
        serializer = s.PaymentCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        payment = oneoff.payment_create(
            organization=self.organization,
            amount=data["amount"],
            currency=data["currency"],
            description=data["description"],
            success_url=data["success_url"],
            cancel_url=data["cancel_url"],
            provider=data["provider"],
            actor=actor_of(request),
        )
        return Response(s.PaymentCreatedSerializer(payment).data, status=status.HTTP_201_CREATED)


class PaymentDetailView(BillingScoped, APIView):
    required_permissions = {"GET": perms.BILLING_READ}

    @extend_schema(summary="Get one payment", parameters=PAYMENT_ID, responses={200: s.PaymentSerializer, **ERRORS}, tags=TAGS)
    def get(self, request, id):
        """One of the org's payments: a one-off payment (UUID) or a Stripe charge (ch_...)."""
        return Response(s.PaymentSerializer(selectors.payment_item(organization=self.organization, payment_id=id)).data)


class PaymentVerifyView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(
        summary="Verify a one-off payment at its provider",
        parameters=ONEOFF_ID,
        request=None,
        responses={200: s.PaymentSerializer, **ERRORS, 503: PROVIDER_ERRORS[503]},
        tags=TAGS,
    )
    def post(self, request, id):
        """Re-read the payment at Stripe or Razorpay and return it with its status."""
        body_refuse(request)
        if not selectors.is_uuid(id):
            raise not_found("No such payment.")  # only one-off payments are verified; charges are Stripe's own
        payment = oneoff.payment_verify(organization=self.organization, payment_id=id, actor=actor_of(request))
        return Response(s.PaymentSerializer(selectors.oneoff_item(payment)).data)


class PaymentRefundView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE}

    @extend_schema(
        summary="Refund a payment",
        parameters=PAYMENT_ID,
        request=s.RefundSerializer,
        responses={200: s.PaymentSerializer, **ERRORS, **STRIPE_ERRORS, **PROVIDER_ERRORS},
        tags=TAGS,
    )
    def post(self, request, id):
        """Refund a payment, fully or `amount` of it (billing:manage, the owner by default)."""
        serializer = s.RefundSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = payments.payment_refund(
            organization=self.organization,
            payment_id=id,
            amount=serializer.validated_data.get("amount"),
            reason=serializer.validated_data.get("reason"),
            actor=actor_of(request),
        )
        return Response(s.PaymentSerializer(_item(result)).data)


class PaymentMethodDetailView(BillingScoped, APIView):
    required_permissions = {"GET": perms.BILLING_READ, "DELETE": perms.BILLING_MANAGE}

    @extend_schema(
        operation_id="billing_payment_method_retrieve",
        summary="Get one payment method",
        parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH, description="Stripe id")],
        responses={200: s.PaymentMethodSerializer, **ERRORS},
        tags=TAGS,
    )
    def get(self, request, id):
        """One of the org's payment methods."""
        method = selectors.payment_method_get(organization=self.organization, payment_method_id=id)
        default = selectors.default_payment_method_id(organization=self.organization)
        return Response(s.PaymentMethodSerializer(method, context={"default_payment_method_id": default}).data)

    @extend_schema(
        summary="Detach a payment method",
        parameters=[OpenApiParameter("id", str, OpenApiParameter.PATH, description="Stripe id")],
        responses={204: None, **ERRORS, 503: STRIPE_ERRORS[503]},
        tags=TAGS,
    )
    def delete(self, request, id):
        """Detach a payment method from the org's customer."""
        body_refuse(request)
        payments.payment_method_detach(organization=self.organization, payment_method_id=id, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class RazorpayWebhookView(APIView):
    """Razorpay's deliveries: authenticated by the X-Razorpay-Signature header alone."""

    permission_classes = [AllowAny]
    # As Stripe's: no auth (no session, so no CSRF), no throttle (Razorpay's retries must never be refused).
    authentication_classes = []
    throttle_classes = []

    @extend_schema(
        summary="Receive a Razorpay webhook event",
        request={"application/json": {"type": "object", "description": "A Razorpay webhook event"}},
        responses={
            200: OpenApiResponse(description="Stored (or already stored); processed asynchronously"),
            400: OpenApiResponse(description="VALIDATION_ERROR: bad or missing signature, event id or payload"),
            503: OpenApiResponse(description="SERVICE_UNAVAILABLE: webhook secret not configured"),
        },
        parameters=[
            OpenApiParameter("X-Razorpay-Signature", str, OpenApiParameter.HEADER, required=True),
            OpenApiParameter("X-Razorpay-Event-Id", str, OpenApiParameter.HEADER, required=True),
        ],
        tags=TAGS,
    )
    def post(self, request):
        """Receive a Razorpay event: verified, stored once by its event id, then processed by a task."""
        # The raw body: the signature is over the exact bytes Razorpay sent.
        event, created = razorpay_webhooks.razorpay_event_store(
            payload=request.body,
            signature=request.META.get("HTTP_X_RAZORPAY_SIGNATURE"),
            event_id=request.META.get("HTTP_X_RAZORPAY_EVENT_ID"),
        )
        return Response({"received": True, "duplicate": not created})
