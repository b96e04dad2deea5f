"""The one error envelope: every error the API returns goes through `error_response`."""

import logging
import math
import threading
import time
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DatabaseError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework import status
from rest_framework.response import Response

from core.errors import ErrorCode
from core.middleware import current_request_id

logger = logging.getLogger("core.errors")


class ApplicationError(Exception):
    """A domain error with a contract code, an HTTP status and optional field details."""

    def __init__(
        self,
        *,
        code: str,
        message: str,
        status_code: int = status.HTTP_400_BAD_REQUEST,
        details: dict | None = None,
        headers: dict | None = None,
    ):
        super().__init__(message)
        self.code = str(code)
        self.message = message
        self.status_code = status_code
        self.details = details or {}
        self.headers = headers or {}


def forbidden(message: str, **details: Any) -> ApplicationError:
    """Build a 403 INSUFFICIENT_PERMISSIONS error."""
    return ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message=message, status_code=403, details=details)


def not_found(message: str, **details: Any) -> ApplicationError:
    """Build a 404 NOT_FOUND error (also what another organization's object answers)."""
    return ApplicationError(code=ErrorCode.NOT_FOUND, message=message, status_code=404, details=details)


def conflict(message: str, **details: Any) -> ApplicationError:
    """Build a 409 CONFLICT error."""
    return ApplicationError(code=ErrorCode.CONFLICT, message=message, status_code=409, details=details)


def validation_error(field: str, message: str) -> ApplicationError:
    """Build a 400 VALIDATION_ERROR naming one field."""
    return ApplicationError(code=ErrorCode.VALIDATION_ERROR, message=message, status_code=400, details={field: [message]})


def payload_too_large(message: str = "The request body is too large.", **details: Any) -> ApplicationError:
    """Build a 413 PAYLOAD_TOO_LARGE error."""
    return ApplicationError(code=ErrorCode.PAYLOAD_TOO_LARGE, message=message, status_code=413, details=details)


def envelope(*, code: str, message: str, details: dict | None = None) -> dict:
    """Return the error body of the contract."""
    return {
        "error": {
            "code": str(code),
            "message": str(message),
            "details": details or {},
            "request_id": current_request_id(),
        }
    }


def _stringify(detail: Any) -> Any:
    if isinstance(detail, dict):
        return {str(key): _stringify(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_stringify(item) for item in detail]
    return str(detail)


def _first_message(details: Any) -> str | None:
    if isinstance(details, dict):
        for key, value in details.items():
            message = _first_message(value)
            if message:
                return message if key == "non_field_errors" else f"{key}: {message}"
    elif isinstance(details, list):
        for item in details:
            message = _first_message(item)
            if message:
                return message
    elif details:
        return str(details)
    return None


_AUTH_CODES = {
    "token_expired": ErrorCode.TOKEN_EXPIRED,
    "token_not_valid": ErrorCode.TOKEN_INVALID,
    "token_invalid": ErrorCode.TOKEN_INVALID,
}


def _from_api_exception(exc: drf.APIException) -> tuple[int, str, str, dict]:
    detail = exc.detail
    if isinstance(exc, drf.ValidationError):
        details = _stringify(detail if isinstance(detail, dict) else {"non_field_errors": detail})
        message = _first_message(details) or "Invalid input."
        return 400, ErrorCode.VALIDATION_ERROR, message, details
    if isinstance(exc, drf.ParseError):
        return 400, ErrorCode.VALIDATION_ERROR, str(detail), {}
    if isinstance(exc, (drf.NotAuthenticated, drf.AuthenticationFailed)):
        # simplejwt puts {"detail", "code"} in detail; our own auth classes set the contract code.
        code_hint = None
        message = detail
        if isinstance(detail, dict):
            code_hint = str(detail.get("code", "")) or None
            message = detail.get("detail", "Authentication failed.")
        else:
            code_hint = getattr(detail, "code", None)
        code = _AUTH_CODES.get(code_hint or "", None)
        if code_hint in ErrorCode.__members__:
            code = ErrorCode(code_hint)
        return 401, code or ErrorCode.AUTHENTICATION_FAILED, str(message), {}
    if isinstance(exc, drf.PermissionDenied):
        code_hint = getattr(detail, "code", None)
        code = ErrorCode(code_hint) if code_hint in ErrorCode.__members__ else ErrorCode.INSUFFICIENT_PERMISSIONS
        return 403, code, str(detail), {}
    if isinstance(exc, drf.NotFound):
        return 404, ErrorCode.NOT_FOUND, str(detail), {}
    if isinstance(exc, drf.MethodNotAllowed):
        return 405, ErrorCode.METHOD_NOT_ALLOWED, str(detail), {}
    if isinstance(exc, drf.NotAcceptable):
        return 406, ErrorCode.NOT_ACCEPTABLE, str(detail), {}
    if isinstance(exc, drf.UnsupportedMediaType):
        return 415, ErrorCode.UNSUPPORTED_MEDIA_TYPE, str(detail), {}
    if isinstance(exc, drf.Throttled):
        details = {} if exc.wait is None else {"retry_after": math.ceil(exc.wait)}
        return 429, ErrorCode.RATE_LIMIT_EXCEEDED, "Request was throttled.", details
    return exc.status_code, _code_for_other(exc), str(detail), {}


# Codes for APIExceptions outside the cases above, by HTTP status.
_STATUS_CODES = {
    401: ErrorCode.AUTHENTICATION_FAILED,
    403: ErrorCode.INSUFFICIENT_PERMISSIONS,
    404: ErrorCode.NOT_FOUND,
    409: ErrorCode.CONFLICT,
    429: ErrorCode.RATE_LIMIT_EXCEEDED,
    503: ErrorCode.SERVICE_UNAVAILABLE,
}


def _code_for_other(exc: drf.APIException) -> str:
    """Pick the contract code of any other APIException: its own when it names one, else by status."""
    code_hint = getattr(exc.detail, "code", None)
    if code_hint in ErrorCode.__members__:
        return ErrorCode(code_hint)
    if exc.status_code in _STATUS_CODES:
        return _STATUS_CODES[exc.status_code]
    return ErrorCode.INTERNAL_ERROR if exc.status_code >= 500 else ErrorCode.VALIDATION_ERROR


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF exception handler: map every exception, expected or not, to the envelope."""
    headers: dict[str, str] = {}
    if isinstance(exc, ApplicationError):
        status_code, code, message, details = exc.status_code, exc.code, exc.message, exc.details
        headers.update(exc.headers)
    elif isinstance(exc, Http404):
        status_code, code, message, details = 404, ErrorCode.NOT_FOUND, "Not found.", {}
    elif isinstance(exc, DjangoPermissionDenied):
        status_code, code, message, details = 403, ErrorCode.INSUFFICIENT_PERMISSIONS, "Permission denied.", {}
    elif isinstance(exc, DjangoValidationError):
        details = _stringify(exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages})
        status_code, code, message = 400, ErrorCode.VALIDATION_ERROR, _first_message(details) or "Invalid input."
    elif isinstance(exc, RequestDataTooBig):
        # The caller's mistake, not ours: no stack trace at ERROR for a body over the limit.
        logger.warning("request body over DATA_UPLOAD_MAX_MEMORY_SIZE")
        status_code, code, message, details = 413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.", {}
    elif isinstance(exc, SuspiciousOperation):
        # Too many form fields or files, a malformed multipart body: Django's own answer is a 400.
        logger.warning("suspicious request refused: %s", type(exc).__name__)
        status_code, code, message, details = 400, ErrorCode.VALIDATION_ERROR, "Bad request.", {}
    elif isinstance(exc, drf.APIException):
        status_code, code, message, details = _from_api_exception(exc)
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header
        if getattr(exc, "wait", None) is not None:
            headers["Retry-After"] = str(math.ceil(exc.wait))
    elif is_database_outage(exc):
        database_outage_log(exc)
        status_code, code, message, details = 503, ErrorCode.SERVICE_UNAVAILABLE, "Service temporarily unavailable.", {}
        headers["Retry-After"] = "5"
    else:
        # Unexpected: log the stack trace server-side, never return it.
        logger.exception("unhandled error", exc_info=exc)
        status_code, code, message, details = 500, ErrorCode.INTERNAL_ERROR, "An internal error occurred.", {}
    if _view_is_atomic(context.get("view"), context.get("request")):
        # Imported here: rest_framework.views resolves DEFAULT_AUTHENTICATION_CLASSES on import,
        # and those modules import this one, so a module-level import can be circular.
        from rest_framework.views import set_rollback

        set_rollback()
    response = Response(envelope(code=code, message=message, details=details), status=status_code, headers=headers)
    if is_database_outage(exc):
        response._has_been_logged = True  # database_outage_log said it (rate-limited): not a line per request
    return response


def _view_is_atomic(view, request=None) -> bool:
    # Views marked non_atomic_requests commit their own writes (lockout counters, audit of
    # failures); marking the surrounding transaction for rollback would undo those.
    dispatch = getattr(view, "dispatch", None)
    if getattr(dispatch, "_non_atomic_requests", None):
        return False
    # Safe methods run outside the request transaction unless the view says otherwise (core.handlers).
    from core.handlers import SAFE_METHODS

    if getattr(request, "method", None) in SAFE_METHODS and not getattr(view, "atomic_reads", False):
        return False
    # A function view marks the function the URL resolves to (outside @api_view), which
    # is what Django itself checks before opening the request transaction.
    match = getattr(getattr(request, "_request", request), "resolver_match", None)
    return not getattr(getattr(match, "func", None), "_non_atomic_requests", None)


def _database_down(exc: DatabaseError) -> bool:
    return "connection" in str(exc).lower()


def json_error_view(status_code: int, code: str, message: str):
    """Build a Django view function that answers with the envelope (for handler404/500)."""

    def view(request, exception=None):
        return JsonResponse(envelope(code=code, message=message), status=status_code)

    return view


_handler400 = json_error_view(400, ErrorCode.VALIDATION_ERROR, "Bad request.")
_handler413 = json_error_view(413, ErrorCode.PAYLOAD_TOO_LARGE, "The request body is too large.")


def handler400(request, exception=None):
    """The envelope for a bad request outside DRF; a body over the limit is a 413, as in DRF views."""
    if isinstance(exception, RequestDataTooBig):
        return _handler413(request, exception)
    return _handler400(request, exception)


handler403 = json_error_view(403, ErrorCode.INSUFFICIENT_PERMISSIONS, "Permission denied.")
handler404 = json_error_view(404, ErrorCode.NOT_FOUND, "Not found.")
_handler500 = json_error_view(500, ErrorCode.INTERNAL_ERROR, "An internal error occurred.")


def database_unavailable_response() -> JsonResponse:
    """503 in the envelope, for an outage of the database (not a bug: the caller may retry)."""
    response = JsonResponse(envelope(code=ErrorCode.SERVICE_UNAVAILABLE, message="Service temporarily unavailable."), status=503)
    response["Retry-After"] = "5"
    # Django's request logger would add an ERROR line per 503 (a flood during an outage); the
    # outage is logged once per interval by database_outage_log instead.
    response._has_been_logged = True
    return response


# At most one log line per this many seconds per process about a database outage: every request
# fails alike then, and a traceback each would flood the log (issue 19).
DATABASE_OUTAGE_LOG_SECONDS = 5.0
_outage_log_lock = threading.Lock()
_outage_log = {"next": 0.0, "suppressed": 0}


def database_outage_log(exc: BaseException) -> None:
    """Log a database outage: one line (no traceback) per DATABASE_OUTAGE_LOG_SECONDS, counting the rest."""
    with _outage_log_lock:
        now = time.monotonic()
        if now < _outage_log["next"]:
            _outage_log["suppressed"] += 1
            return
        _outage_log["next"] = now + DATABASE_OUTAGE_LOG_SECONDS
        suppressed, _outage_log["suppressed"] = _outage_log["suppressed"], 0
    logger.error(
        "database unavailable (%s: %s); %d more since the last report",
        type(exc).__name__,
        str(exc).strip().splitlines()[0] if str(exc).strip() else "",
        suppressed,
    )


def is_database_outage(exc: BaseException | None) -> bool:
    """Tell whether an exception means the database cannot be reached."""
    return isinstance(exc, OperationalError) or (isinstance(exc, DatabaseError) and _database_down(exc))


def handler500(request, exception=None):
    """The envelope for an uncaught error; a database outage outside any view is still a 503."""
    import sys

    exc = sys.exc_info()[1]
    if is_database_outage(exc):
        database_outage_log(exc)
        return database_unavailable_response()
    return _handler500(request)
