"""DRF throttles on the shared cache that also report X-RateLimit-* state.

DRF's own throttles keep a log of every request's timestamp in the cache and read and write
the whole log on each request: O(limit) work and bytes per request (60 floats at the default
user rate; 10,000 for a client allowed 10,000 a minute). These count in fixed windows
instead, as GitHub's API does: one atomic increment per request whatever the limit, and
X-RateLimit-Reset is simply the window's end. The price is that a client may spend its budget
at the end of one window and again at the start of the next.
"""

import math

from django.conf import settings
from rest_framework import throttling

from core.http import client_ip


class _ReportingMixin:
    """Count requests per fixed window; record limit/remaining/reset on the request."""

    def get_rate(self):
        rates = settings.REST_FRAMEWORK.get("DEFAULT_THROTTLE_RATES", {})
        return rates.get(self.scope)

    def allow_request(self, request, view):
        # Rates are looked up per request so settings overrides take effect.
        self.rate = self.get_rate()
        if self.rate is None:
            return True
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.key = self.get_cache_key(request, view)
        if self.key is None:
            return True
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        used = self._count(f"{self.key}:{window}")
        if used is None:
            # The cache is unreachable (errors ignored, see CACHES): fail open, as documented.
            return True
        self._record(request, used)
        return used <= self.num_requests

    def _count(self, key: str) -> int | None:
        """Add this request to the window's counter and return the count (None: no cache)."""
        try:
            return self.cache.incr(key)
        except ValueError:  # the window's first request: no counter yet
            # Outlives the window a little, so a late increment never finds it gone.
            if self.cache.add(key, 1, self.duration + 1):
                return 1
            return self.cache.incr(key)  # another request created it first

    def get_ident(self, request):
        """The client IP through core.http.client_ip, as lockouts, policies and audit read it."""
        # Not DRF's own get_ident: one reading of X-Forwarded-For (NUM_PROXIES) for the whole app.
        return client_ip(request) or "unknown"

    def wait(self):
        """Seconds until the window ends (Retry-After)."""
        return max(0.0, self.window_end - self.now)

    def _record(self, request, used: int) -> None:
        remaining = max(0, self.num_requests - used)
        state = {"limit": self.num_requests, "remaining": remaining, "reset": math.ceil(self.window_end)}
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
