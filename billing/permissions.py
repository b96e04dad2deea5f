"""Permissions declared by the billing app, and its DRF permission class for staff-only routes."""

from rest_framework.permissions import BasePermission

from accounts.staff import staff_power_check
from core.actor import principal_of
from core.authz import declare
from core.roles import Role

BILLING_READ = declare("billing:read", "See the plan, subscription, usage, invoices, payments and payment methods.", roles=(Role.ADMIN,))
BILLING_MANAGE = declare(
    "billing:manage",
    "Subscribe, change or cancel the plan, manage payment methods and refund payments.",
    roles=(Role.OWNER,),
)


class IsStaffUser(BasePermission):
    """Active staff users signed in as themselves, in a session that passed MFA (API.md invariant 8)."""

    def has_permission(self, request, view) -> bool:
        if not (request.user and request.user.is_authenticated):
            return False  # 401: DRF answers "not authenticated" for a refused anonymous caller
        # An impersonation token carries the impersonated user, who is not staff: refused too.
        staff_power_check(principal=principal_of(request), action="activate subscriptions")
        return True
