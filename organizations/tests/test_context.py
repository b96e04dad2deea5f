"""Org context resolution for routes outside /orgs/{org_id}/: X-Org-ID header, then the token's org."""

import uuid

import pytest
from rest_framework.test import APIRequestFactory

from core.actor import Principal
from core.exceptions import ApplicationError
from organizations.context import resolve
from organizations.tests.factories import MembershipFactory, OrganizationFactory

pytestmark = pytest.mark.django_db


def request_for(user, *, header=None, claim=None):
    extra = {"HTTP_X_ORG_ID": header} if header is not None else {}
    request = APIRequestFactory().get("/api/v1/anything", **extra)
    request.user = user
    request.auth = Principal.from_claims(user, {"org_id": str(claim) if claim else None, "sid": "s"})
    return request


def failure(request, **kwargs) -> ApplicationError:
    with pytest.raises(ApplicationError) as info:
        resolve(request, **kwargs)
    return info.value


def test_header_wins_over_token(user):
    first = MembershipFactory(user=user).organization
    second = MembershipFactory(user=user).organization
    context = resolve(request_for(user, header=str(second.id), claim=first.id))
    assert context.organization == second


def test_token_org_when_no_header(user):
    organization = MembershipFactory(user=user, role="viewer").organization
    context = resolve(request_for(user, claim=organization.id))
    assert context.organization == organization and context.membership.role == "viewer"


def test_neither_header_nor_token_is_invalid_context(user):
    error = failure(request_for(user))
    assert (error.status_code, error.code) == (403, "INVALID_ORG_CONTEXT")


def test_foreign_org_in_header_is_invalid_context(user):
    foreign = OrganizationFactory()
    error = failure(request_for(user, header=str(foreign.id)))
    assert (error.status_code, error.code) == (403, "INVALID_ORG_CONTEXT")


def test_unknown_org_in_header_is_org_not_found(user):
    error = failure(request_for(user, header=str(uuid.uuid4())))
    assert (error.status_code, error.code) == (404, "ORG_NOT_FOUND")


def test_malformed_header_is_400(user):
    error = failure(request_for(user, header="not-a-uuid"))
    assert (error.status_code, error.code) == (400, "VALIDATION_ERROR")


def test_suspended_member_is_invalid_context_in_header_and_path(user):
    organization = MembershipFactory(user=user, status="suspended").organization
    assert failure(request_for(user, header=str(organization.id))).code == "INVALID_ORG_CONTEXT"
    assert failure(request_for(user), path_org_id=organization.id).code == "INVALID_ORG_CONTEXT"


def test_path_org_of_non_member_is_404(user):
    foreign = OrganizationFactory()
    error = failure(request_for(user), path_org_id=foreign.id)
    assert (error.status_code, error.code) == (404, "ORG_NOT_FOUND")


def test_resolved_once_per_request(user, django_assert_num_queries):
    organization = MembershipFactory(user=user).organization
    request = request_for(user, header=str(organization.id))
    with django_assert_num_queries(1):
        resolve(request)
        resolve(request)
