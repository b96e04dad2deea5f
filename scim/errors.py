"""SCIM errors (RFC 7644 §3.12): what the /scim/v2/ routes answer instead of the API's error envelope."""

import json

from django.http import HttpResponse

from core.errors import ErrorCode
from core.exceptions import ApplicationError

CONTENT_TYPE = "application/scim+json"
ERROR_SCHEMA = "urn:ietf:params:scim:api:messages:2.0:Error"

# Contract codes of our services → the SCIM status and `scimType` they become.
_FROM_CODE = {
    ErrorCode.VALIDATION_ERROR: (400, "invalidValue"),
    ErrorCode.CONFLICT: (409, "uniqueness"),
    ErrorCode.NOT_FOUND: (404, None),
    ErrorCode.INSUFFICIENT_PERMISSIONS: (403, None),
    ErrorCode.MFA_REQUIRED: (403, None),
    ErrorCode.PLAN_LIMIT_REACHED: (403, None),
    ErrorCode.PLAN_UPGRADE_REQUIRED: (403, None),
}


class ScimError(Exception):
    """A SCIM error response: HTTP status, optional `scimType` and a human `detail`."""

    def __init__(self, status: int, detail: str, scim_type: str | None = None, headers: dict | None = None):
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.scim_type = scim_type
        self.headers = headers or {}

    @classmethod
    def from_application_error(cls, exc: ApplicationError) -> "ScimError":
        """Translate a service's domain error; field details become part of the detail text."""
        status, scim_type = _FROM_CODE.get(exc.code, (exc.status_code, None))
        detail = exc.message
        messages = [f"{field}: {' '.join(map(str, problems)) if isinstance(problems, list) else problems}" for field, problems in exc.details.items()]
        if messages and exc.code == ErrorCode.VALIDATION_ERROR:
            detail = f"{detail} ({'; '.join(messages)})"
        return cls(status, detail, scim_type)

    def response(self) -> HttpResponse:
        return error_response(self.status, self.detail, self.scim_type, headers=self.headers)


def bad_request(detail: str, scim_type: str = "invalidValue") -> ScimError:
    return ScimError(400, detail, scim_type)


def not_found(detail: str = "Resource not found.") -> ScimError:
    return ScimError(404, detail)


def error_response(status: int, detail: str, scim_type: str | None = None, *, headers: dict | None = None) -> HttpResponse:
    """The RFC 7644 error body: `schemas`, `status` (a string), optional `scimType`, `detail`."""
    body = {"schemas": [ERROR_SCHEMA], "status": str(status), "detail": detail}
    if scim_type:
        body["scimType"] = scim_type
    response = HttpResponse(json.dumps(body), status=status, content_type=CONTENT_TYPE)
    if status >= 500:
        # 501 is a documented answer (Bulk, /Me), and a 500 is logged once by the view with its stack.
        response._has_been_logged = True
    for name, value in (headers or {}).items():
        response[name] = value
    return response
