"""The messaging app's domain errors: the core constructors (codes are the contract's `core.errors.ErrorCode`)."""

from core.exceptions import conflict, forbidden, not_found, validation_error

__all__ = ["forbidden", "not_found", "conflict", "validation_error"]
