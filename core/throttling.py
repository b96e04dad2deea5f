"""DRF throttles on the shared cache that also report X-RateLimit-* state."""
import math

from django.conf import settings
from rest_framework import throttling


class _ReportingMixin:
    """Read rates from settings at call time and record limit/remaining/reset on the request."""

    def get_rate(self):
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        return rates.get(self.scope)

    def allow_request(self, request, view):
        # Rates are looked up per request so settings overrides take effect.
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        allowed = super().allow_request(request, view)
        if getattr(self, "key", None) is None:
            return allowed
        self._record(request, allowed)
        return allowed

    def _record(self, request, allowed: bool) -> None:
        used = len(self.history)
        remaining = self.num_requests - used
        if self.history:
            reset = math.ceil(self.history[-1] + self.duration)
        else:
            reset = math.ceil(self.now + self.duration)
        state = {"limit": self.num_requests, "remaining": remaining, "reset": reset}
        django_request = getattr(request, "_request", request)
        previous = getattr(django_request, "rate_limit", None)
        # With several throttles on a view, report the tightest one.
        if previous is None or state["remaining"] < previous["remaining"]:
            django_request.rate_limit = state


class UserRateThrottle(_ReportingMixin, throttling.UserRateThrottle):
    """Per authenticated user (THROTTLE_USER)."""


class AnonRateThrottle(_ReportingMixin, throttling.AnonRateThrottle):
    """Per client IP for anonymous calls (THROTTLE_ANON)."""


class ScopedRateThrottle(_ReportingMixin, throttling.ScopedRateThrottle):
    """Per view scope (`throttle_scope`), keyed by user or IP."""

    def allow_request(self, request, view):
        self.scope = getattr(view, self.scope_attr, None)
        if not self.scope:
            return True
        return super().allow_request(request, view)
