"""Messages of the messaging app's domain errors (codes are the contract's `core.errors.ErrorCode`)."""
from core.errors import ErrorCode
from core.exceptions import ApplicationError, conflict, validation_error

__all__ = ["forbidden", "not_found", "conflict", "validation_error"]


def forbidden(message: str) -> ApplicationError:
    """403 INSUFFICIENT_PERMISSIONS for a rule of the chat itself (not a role permission)."""
    return ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message=message, status_code=403)


def not_found(message: str) -> ApplicationError:
    """404 NOT_FOUND: also what another org's (or a chat one is not in) object answers."""
    return ApplicationError(code=ErrorCode.NOT_FOUND, message=message, status_code=404)
