"""The DRF exception handler, called directly for the cases no endpoint here produces yet."""

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import OperationalError
from django.http import Http404
from rest_framework import exceptions as drf

from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, exception_handler


def handle(exc: Exception):
    """Run the handler outside any view (no request transaction to mark)."""
    response = exception_handler(exc, {"view": None})
    return response.status_code, response.data["error"], response


def test_application_error_keeps_code_status_details_and_headers():
    exc = ApplicationError(
        code=ErrorCode.PLAN_LIMIT_REACHED,
        message="Member limit reached.",
        status_code=402,
        details={"limit": 5},
        headers={"X-Plan": "free"},
    )

    status, error, response = handle(exc)

    assert (status, error["code"], error["message"], error["details"]) == (
        402,
        "PLAN_LIMIT_REACHED",
        "Member limit reached.",
        {"limit": 5},
    )
    assert response["X-Plan"] == "free"


def test_conflict_helper_is_409():
    status, error, _ = handle(conflict("Email already registered.", email=["taken"]))

    assert (status, error["code"], error["details"]) == (409, "CONFLICT", {"email": ["taken"]})


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (Http404("gone"), 404, ErrorCode.NOT_FOUND),
        (PermissionDenied(), 403, ErrorCode.INSUFFICIENT_PERMISSIONS),
        (drf.PermissionDenied(), 403, ErrorCode.INSUFFICIENT_PERMISSIONS),
        (drf.PermissionDenied("no", code="MFA_REQUIRED"), 403, ErrorCode.MFA_REQUIRED),
        (drf.NotFound(), 404, ErrorCode.NOT_FOUND),
        (drf.NotAcceptable(), 406, ErrorCode.NOT_ACCEPTABLE),
        (drf.APIException(), 500, ErrorCode.INTERNAL_ERROR),
    ],
)
def test_status_and_code_mapping(exc, status, code):
    got_status, error, _ = handle(exc)

    assert (got_status, error["code"]) == (status, code)


@pytest.mark.parametrize(
    ("status", "code"),
    [
        (409, ErrorCode.CONFLICT),
        (404, ErrorCode.NOT_FOUND),
        (418, ErrorCode.VALIDATION_ERROR),
        (503, ErrorCode.SERVICE_UNAVAILABLE),
    ],
)
def test_other_api_exceptions_get_a_code_from_their_status(status, code):
    exc = drf.APIException("custom")
    exc.status_code = status

    got_status, error, _ = handle(exc)

    assert (got_status, error["code"]) == (status, code)


def test_api_exception_naming_a_contract_code_keeps_it():
    exc = drf.APIException("Upgrade first.", code="PLAN_UPGRADE_REQUIRED")
    exc.status_code = 402

    _, error, _ = handle(exc)

    assert error["code"] == "PLAN_UPGRADE_REQUIRED"


def test_django_validation_error_lists_fields():
    status, error, _ = handle(ValidationError({"slug": ["Taken."], "name": ["Too long."]}))

    assert (status, error["code"]) == (400, "VALIDATION_ERROR")
    assert error["details"] == {"slug": ["Taken."], "name": ["Too long."]}


def test_nested_serializer_errors_are_plain_strings():
    exc = drf.ValidationError({"members": [{"email": ["Enter a valid email address."]}], "non_field_errors": ["Bad."]})

    _, error, _ = handle(exc)

    assert error["details"] == {"members": [{"email": ["Enter a valid email address."]}], "non_field_errors": ["Bad."]}
    assert error["message"] == "members: email: Enter a valid email address."


def test_validation_error_with_a_bare_list_goes_under_non_field_errors():
    _, error, _ = handle(drf.ValidationError(["Passwords differ."]))

    assert error["details"] == {"non_field_errors": ["Passwords differ."]}
    assert error["message"] == "Passwords differ."


def test_database_outage_is_503_with_retry_after_and_no_internals():
    status, error, response = handle(OperationalError("could not connect to server at 10.0.0.5"))

    assert (status, error["code"]) == (503, "SERVICE_UNAVAILABLE")
    assert "10.0.0.5" not in error["message"]
    assert response["Retry-After"]


def test_throttled_rounds_the_wait_up():
    status, error, response = handle(drf.Throttled(wait=12.2))

    assert (status, error["code"]) == (429, "RATE_LIMIT_EXCEEDED")
    assert response["Retry-After"] == "13"
    assert error["details"] == {"retry_after": 13}


def test_request_id_is_null_outside_a_request():
    _, error, _ = handle(drf.NotFound())

    assert error["request_id"] is None
