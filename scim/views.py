"""SCIM 2.0 endpoints of one organization: /scim/v2/<org_id>/Users, /Groups and the discovery documents.

Plain Django views rather than django-scim2's (docs/scim.md says why): every request names its
org in the path and authenticates with that org's token; every answer is application/scim+json
and every error is RFC 7644's error object, never the API envelope and never a 500 for bad input.
"""

import json
import logging
import math

from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils.decorators import method_decorator
from django.views import View
from django.views.decorators.csrf import csrf_exempt

from core import entitlements
from core.actor import Actor, Principal
from core.exceptions import ApplicationError
from core.http import client_ip, user_agent
from core.middleware import current_request_id
from organizations.permissions import MEMBERS_READ, ORG_UPDATE, TEAMS_READ
from scim import filters, payloads, resources, schemas, selectors, services, tokens
from scim.authz import ScimAuthority
from scim.errors import CONTENT_TYPE, ScimError, bad_request, error_response
from scim.throttling import ScimFailureThrottle, ScimTokenThrottle

logger = logging.getLogger(__name__)

FEATURE = "sso"


def _json(data, status: int = 200, *, location: str | None = None) -> HttpResponse:
    response = HttpResponse(json.dumps(data), status=status, content_type=CONTENT_TYPE)
    if location:
        response["Location"] = location
    return response


def _unauthorized() -> ScimError:
    return ScimError(401, "A valid SCIM bearer token of this organization is required.", headers={"WWW-Authenticate": 'Bearer realm="scim"'})


@method_decorator(csrf_exempt, name="dispatch")
class ScimView(View):
    """Authenticate the org's token, check the plan and the token's authority, then run one handler in a transaction."""

    http_method_names = ["get", "post", "put", "patch", "delete"]
    # The permission the token's creator needs for each method (on top of org:update).
    read_permission: str | None = None

    def dispatch(self, request, *args, **kwargs):
        try:
            self._authenticate(request, kwargs["org_id"])
            handler = getattr(self, request.method.lower(), None) if request.method.lower() in self.http_method_names else None
            if handler is None:
                raise ScimError(405, f"{request.method} is not supported here.")
            if request.method == "GET":
                return handler(request, *args, **kwargs)  # reads only: no transaction needed
            # Its own transaction (or a savepoint of the request's): a refused change leaves nothing behind.
            with transaction.atomic():
                return handler(request, *args, **kwargs)
        except ScimError as exc:
            return exc.response()
        except ApplicationError as exc:
            return ScimError.from_application_error(exc).response()
        except IntegrityError as exc:
            return services.integrity_conflict(exc).response()
        except Exception:  # noqa: BLE001 - the SCIM error object, never an HTML page
            logger.exception("SCIM request failed")
            return error_response(500, "The request could not be completed.")

    def _authenticate(self, request, org_id) -> None:
        failures = ScimFailureThrottle()
        if failures.over(request):
            raise ScimError(429, "Too many failed SCIM authentications from this address.", "tooMany", headers={"Retry-After": str(math.ceil(failures.wait()))})
        header = request.headers.get("Authorization", "")
        scheme, _, secret = header.partition(" ")
        token = tokens.token_authenticate(secret=secret.strip(), organization_id=org_id) if scheme.lower() == "bearer" else None
        if token is None:
            failures.allow_request(request, self)  # counts this failure
            raise _unauthorized()
        throttle = ScimTokenThrottle(token.id)
        if not throttle.allow_request(request, self):
            raise ScimError(429, "Too many SCIM requests for this token.", "tooMany", headers={"Retry-After": str(math.ceil(throttle.wait()))})
        ip = client_ip(request)
        tokens.token_touch(token=token, ip=ip)
        organization = token.organization
        if not entitlements.has_feature(organization, FEATURE):
            raise ScimError(403, "The organization's plan does not include SSO and SCIM provisioning.")
        self.token = token
        self.organization = organization
        self.base = request.build_absolute_uri(f"/scim/v2/{organization.id}")
        authority = ScimAuthority.of(token=token, ip=ip)
        # The token acts for its creator: it stops when they may no longer manage the org.
        authority.require(ORG_UPDATE)
        actor = Actor(principal=Principal.for_scim(token), ip=ip, user_agent=user_agent(request), request_id=current_request_id() or "")
        self.call = services.ScimCall(organization=organization, authority=authority, actor=actor)

    def body(self, request):
        raw = request.body
        if not raw.strip():
            raise bad_request("The request needs a JSON body.", "invalidSyntax")
        try:
            return json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            raise bad_request("The body is not valid JSON.", "invalidSyntax") from None

    def projection(self, request) -> dict:
        def names(key):
            return [name.strip() for name in request.GET.get(key, "").split(",") if name.strip()]

        return {"attributes": names("attributes"), "excluded": names("excludedAttributes")}

    def page(self, request) -> tuple[int, int]:
        """RFC 7644 §3.4.2.4: 1-based startIndex (below 1 → 1), count (negative → 0, capped)."""
        try:
            start = int(request.GET.get("startIndex", 1))
            count = int(request.GET.get("count", schemas.DEFAULT_COUNT))
        except ValueError:
            raise bad_request("startIndex and count must be integers.") from None
        return max(start, 1), min(max(count, 0), schemas.MAX_RESULTS)

    def list_response(self, request, queryset, represent) -> HttpResponse:
        start, count = self.page(request)
        total = queryset.count()
        rows = list(queryset[start - 1 : start - 1 + count]) if count else []
        projection = self.projection(request)
        return _json(
            {
                "schemas": [schemas.LIST_RESPONSE],
                "totalResults": total,
                "startIndex": start,
                "itemsPerPage": len(rows),
                "Resources": [resources.project(represent(row), **projection) for row in rows],
            }
        )


def _excludes(request, attribute: str) -> bool:
    excluded = {name.strip().lower() for name in request.GET.get("excludedAttributes", "").split(",")}
    wanted = {name.strip().lower() for name in request.GET.get("attributes", "").split(",") if name.strip()}
    return attribute in excluded or (bool(wanted) and attribute not in wanted)


class UsersView(ScimView):
    http_method_names = ["get", "post"]

    def get(self, request, org_id):
        """List (and filter) the org's members."""
        self.call.authority.require(MEMBERS_READ)
        queryset = selectors.user_queryset(organization=self.organization, with_groups=not _excludes(request, "groups"))
        if request.GET.get("filter"):
            queryset = queryset.filter(filters.user_filter(request.GET["filter"]))
        return self.list_response(request, queryset, lambda row: resources.user_resource(row, base=self.base))

    def post(self, request, org_id):
        """Provision a member (RFC 7644 §3.3)."""
        changes = payloads.user_from_resource(self.body(request), creating=True)
        membership = services.user_provision(call=self.call, changes=changes)
        resource = resources.user_resource(selectors.user_get(organization=self.organization, resource_id=membership.id), base=self.base)
        return _json(resource, 201, location=resource["meta"]["location"])


class UserDetailView(ScimView):
    http_method_names = ["get", "put", "patch", "delete"]

    def _get(self, resource_id):
        return selectors.user_get(organization=self.organization, resource_id=resource_id)

    def _answer(self, request, resource_id) -> HttpResponse:
        resource = resources.user_resource(self._get(resource_id), base=self.base)
        return _json(resources.project(resource, **self.projection(request)), location=resource["meta"]["location"])

    def get(self, request, org_id, resource_id):
        self.call.authority.require(MEMBERS_READ)
        return self._answer(request, resource_id)

    def put(self, request, org_id, resource_id):
        membership = self._get(resource_id)
        changes = payloads.user_from_resource(self.body(request), creating=False)
        services.user_change(call=self.call, membership=membership, changes=changes)
        return self._answer(request, resource_id)

    def patch(self, request, org_id, resource_id):
        membership = self._get(resource_id)
        changes = payloads.user_from_patch(self.body(request))
        services.user_change(call=self.call, membership=membership, changes=changes)
        return self._answer(request, resource_id)

    def delete(self, request, org_id, resource_id):
        services.user_deprovision(call=self.call, membership=self._get(resource_id))
        return HttpResponse(status=204)


class GroupsView(ScimView):
    http_method_names = ["get", "post"]

    def get(self, request, org_id):
        """List (and filter) the org's teams."""
        self.call.authority.require(TEAMS_READ)
        queryset = selectors.group_queryset(organization=self.organization, with_members=not _excludes(request, "members"))
        if request.GET.get("filter"):
            queryset = queryset.filter(filters.group_filter(request.GET["filter"]))
        return self.list_response(request, queryset, lambda row: resources.group_resource(row, base=self.base))

    def post(self, request, org_id):
        changes = payloads.group_from_resource(self.body(request), creating=True)
        team = services.group_provision(call=self.call, changes=changes)
        resource = resources.group_resource(selectors.group_get(organization=self.organization, resource_id=team.id), base=self.base)
        return _json(resource, 201, location=resource["meta"]["location"])


class GroupDetailView(ScimView):
    http_method_names = ["get", "put", "patch", "delete"]

    def _answer(self, request, resource_id) -> HttpResponse:
        team = selectors.group_get(organization=self.organization, resource_id=resource_id, with_members=not _excludes(request, "members"))
        resource = resources.group_resource(team, base=self.base)
        return _json(resources.project(resource, **self.projection(request)), location=resource["meta"]["location"])

    def get(self, request, org_id, resource_id):
        self.call.authority.require(TEAMS_READ)
        return self._answer(request, resource_id)

    def put(self, request, org_id, resource_id):
        team = selectors.group_get(organization=self.organization, resource_id=resource_id, with_members=False)
        changes = payloads.group_from_resource(self.body(request), creating=False)
        services.group_change(call=self.call, team=team, changes=changes)
        return self._answer(request, resource_id)

    def patch(self, request, org_id, resource_id):
        team = selectors.group_get(organization=self.organization, resource_id=resource_id, with_members=False)
        changes = payloads.group_from_patch(self.body(request))
        services.group_change(call=self.call, team=team, changes=changes)
        # Entra ID and Okta accept 204 or the resource; the resource lets a client see the result.
        return self._answer(request, resource_id)

    def delete(self, request, org_id, resource_id):
        team = selectors.group_get(organization=self.organization, resource_id=resource_id, with_members=False)
        services.group_deprovision(call=self.call, team=team)
        return HttpResponse(status=204)


class ServiceProviderConfigView(ScimView):
    http_method_names = ["get"]

    def get(self, request, org_id):
        return _json(schemas.service_provider_config(self.base))


class ResourceTypesView(ScimView):
    http_method_names = ["get"]

    def get(self, request, org_id, resource_id=None):
        found = schemas.resource_types(self.base)
        if resource_id is not None:
            match = next((item for item in found if item["id"] == resource_id), None)
            if match is None:
                raise ScimError(404, f"Resource type {resource_id} not found.")
            return _json(match)
        return _json({"schemas": [schemas.LIST_RESPONSE], "totalResults": len(found), "startIndex": 1, "itemsPerPage": len(found), "Resources": found})


class SchemasView(ScimView):
    http_method_names = ["get"]

    def get(self, request, org_id, resource_id=None):
        found = schemas.schemas(self.base)
        if resource_id is not None:
            match = next((item for item in found if item["id"].lower() == resource_id.lower()), None)
            if match is None:
                raise ScimError(404, f"Schema {resource_id} not found.")
            return _json(match)
        return _json({"schemas": [schemas.LIST_RESPONSE], "totalResults": len(found), "startIndex": 1, "itemsPerPage": len(found), "Resources": found})


class NotImplementedView(ScimView):
    """Bulk, /Me and search by POST: not offered (ServiceProviderConfig says so), 501 as RFC 7644 asks."""

    http_method_names = ["get", "post", "put", "patch", "delete"]

    def _refuse(self, request, *args, **kwargs):
        raise ScimError(501, "Not supported by this service provider.")

    get = post = put = patch = delete = _refuse


def not_found(request, *args, **kwargs) -> HttpResponse:
    """Any other path under /scim/: the SCIM error object, not an HTML page."""
    return error_response(404, "Not found.")
