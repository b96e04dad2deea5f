"""Permissions declared by the billing app, and its DRF permission class for staff-only routes."""
from rest_framework.permissions import BasePermission

from core.authz import declare

BILLING_READ = declare("billing:read", "See the plan, subscription, usage, invoices, payments and payment methods.")
BILLING_MANAGE = declare(
    "billing:manage", "Subscribe, change or cancel the plan, manage payment methods and refund payments."
)


class IsStaffUser(BasePermission):
    """Active staff users signed in as themselves (API keys never get here: not an org route)."""

    def has_permission(self, request, view) -> bool:
        user = request.user
        # An impersonation token carries the impersonated user, who is not staff: refused too.
        return bool(user and user.is_authenticated and user.is_active and getattr(user, "is_staff", False))
