"""Email domains an organization claims, verifies through DNS, and releases."""

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.response import Response
from rest_framework.views import APIView

from core.actor import actor_of
from core.serializers import body_refuse
from organizations import domains
from organizations import permissions as perms
from organizations.api import invite_serializers as s
from organizations.api.views import ERRORS, ORG_PATH
from permissions.drf import OrgScopedMixin

# The contract names it `{id}`: `domains/{id}`, `domains/{id}/verify`.
DOMAIN_PATH = [OpenApiParameter("id", str, OpenApiParameter.PATH, description="Domain id (UUID)")]
TAKEN = OpenApiResponse(description="CONFLICT: already claimed by this organization, or verified by another one")


class DomainListCreateView(OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.MEMBERS_READ, "POST": perms.DOMAINS_MANAGE}

    @extend_schema(parameters=ORG_PATH, responses={200: s.DomainListEnvelopeSerializer, **ERRORS}, tags=["domains"], operation_id="orgs_domains_list")
    def get(self, request, org_id):
        """Domains the organization has claimed (unpaginated)."""
        return Response({"data": s.DomainSerializer(domains.domain_list(organization=self.organization), many=True).data})

    @extend_schema(parameters=ORG_PATH, request=s.DomainCreateSerializer, responses={201: s.DomainSerializer, 409: TAKEN, **ERRORS}, tags=["domains"])
    def post(self, request, org_id):
        """Claim an email domain; publish `verification_record` as a DNS TXT record, then verify."""
        serializer = s.DomainCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        domain = domains.domain_claim(organization=self.organization, actor=actor_of(request), **serializer.validated_data)
        return Response(s.DomainSerializer(domain).data, status=status.HTTP_201_CREATED)


class _DomainMixin:
    def _domain(self):
        return domains.domain_get(organization=self.organization, domain_id=self.kwargs["id"])


class DomainDetailView(_DomainMixin, OrgScopedMixin, APIView):
    required_permissions = {"GET": perms.MEMBERS_READ, "DELETE": perms.DOMAINS_MANAGE}

    @extend_schema(parameters=ORG_PATH + DOMAIN_PATH, responses={200: s.DomainSerializer, **ERRORS}, tags=["domains"])
    def get(self, request, *args, **kwargs):
        """One claimed domain."""
        return Response(s.DomainSerializer(self._domain()).data)

    @extend_schema(parameters=ORG_PATH + DOMAIN_PATH, responses={204: None, **ERRORS}, tags=["domains"])
    def delete(self, request, *args, **kwargs):
        """Release a domain: its users are no longer offered membership."""
        body_refuse(request)
        domains.domain_delete(domain=self._domain(), actor=actor_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class DomainVerifyView(_DomainMixin, OrgScopedMixin, APIView):
    required_permissions = {"POST": perms.DOMAINS_MANAGE}

    @extend_schema(
        parameters=ORG_PATH + DOMAIN_PATH,
        request=None,
        responses={
            200: s.DomainSerializer,
            400: OpenApiResponse(description="VALIDATION_ERROR naming `domain`: TXT record not found, or the lookup failed (NXDOMAIN, timeout)"),
            409: TAKEN,
            **{k: v for k, v in ERRORS.items() if k != 400},
        },
        tags=["domains"],
    )
    def post(self, request, *args, **kwargs):
        """Look the TXT record up; when found the domain is verified (verifying twice is harmless)."""
        body_refuse(request)
        domain = domains.domain_verify(domain=self._domain(), actor=actor_of(request))
        return Response(s.DomainSerializer(domain).data)
