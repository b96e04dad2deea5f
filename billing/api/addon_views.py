"""Billing API: the public add-on catalog, the org's add-ons, and quotes."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import permissions as perms
from billing import selectors
from billing.api import addon_serializers as s
from billing.api.views import ERRORS, STRIPE_ERRORS, TAGS, BillingScoped, PublicView
from billing.services import addons, quotes
from core.actor import actor_of
from core.serializers import body_refuse

CODE = [OpenApiParameter("code", str, OpenApiParameter.PATH, description="Add-on code")]
UPGRADE_REQUIRED = {402: OpenApiResponse(description="PLAN_UPGRADE_REQUIRED (add-ons need a paid plan)")}


class AddOnListView(PublicView):
    @extend_schema(operation_id="billing_add_ons_list", summary="List add-ons", responses={200: s.AddOnCatalogSerializer}, tags=TAGS)
    def get(self, request):
        """Add-ons a paid plan can take, with their prices and what each unit grants."""
        return Response({"data": s.AddOnSerializer(selectors.addon_list(), many=True).data})


class AddOnDetailView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_MANAGE, "DELETE": perms.BILLING_MANAGE}

    @extend_schema(
        summary="Add an add-on",
        parameters=CODE,
        request=s.AddOnAddSerializer,
        responses={201: s.AddOnHoldingSerializer, 200: s.AddOnHoldingSerializer, **ERRORS, **UPGRADE_REQUIRED, **STRIPE_ERRORS},
        tags=TAGS,
    )
    def post(self, request, code):
        """Hold `quantity` units of an add-on (201 bought; 200 quantity changed or unchanged); prorated on Stripe."""
        serializer = s.AddOnAddSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        holding, created = addons.addon_add(organization=self.organization, code=code, quantity=serializer.validated_data["quantity"], actor=actor_of(request))
        return Response(s.AddOnHoldingSerializer(holding).data, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)

    @extend_schema(summary="Remove an add-on", parameters=CODE, responses={204: None, **ERRORS, **STRIPE_ERRORS}, tags=TAGS)
    def delete(self, request, code):
        """Stop holding an add-on (prorated on Stripe)."""
        body_refuse(request)
        addons.addon_remove(organization=self.organization, code=code, actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class QuoteView(BillingScoped, APIView):
    required_permissions = {"POST": perms.BILLING_READ}

    @extend_schema(
        summary="Quote a plan with add-ons",
        request=s.QuoteSerializer,
        responses={200: s.QuoteResponseSerializer, **ERRORS, 503: STRIPE_ERRORS[503]},
        tags=TAGS,
    )
    def post(self, request):
        """What a plan and add-ons would cost from the current plan (Stripe's preview when a subscription runs)."""
        serializer = s.QuoteSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        body = quotes.quote_build(
            organization=self.organization,
            plan_code=data["plan"],
            interval=data["interval"],
            months=data.get("months"),
            add_ons=data.get("add_ons"),
        )
        return Response(s.QuoteResponseSerializer(body).data)
