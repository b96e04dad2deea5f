"""Rate limits of the SCIM routes: per token once authenticated, per client IP for failed tokens."""

from rest_framework.throttling import SimpleRateThrottle

from core.throttling import _ReportingMixin


class ScimTokenThrottle(_ReportingMixin, SimpleRateThrottle):
    """Requests per SCIM token (THROTTLE_SCIM): one IdP cannot starve the others sharing its egress IPs."""

    scope = "scim"

    def __init__(self, token_id):
        self.token_id = token_id
        super().__init__()

    def get_cache_key(self, request, view):
        return f"throttle_scim_{self.token_id}"


class ScimFailureThrottle(_ReportingMixin, SimpleRateThrottle):
    """Failed SCIM authentications per client IP (THROTTLE_SCIM_AUTH), counted only when a token fails."""

    scope = "scim_auth"

    def get_cache_key(self, request, view):
        return f"throttle_scim_auth_{self.get_ident(request)}"

    def over(self, request) -> bool:
        """Whether this IP already spent its failures in the current window (counts nothing)."""
        self.rate = self.get_rate()
        if self.rate is None:
            return False
        self.num_requests, self.duration = self.parse_rate(self.rate)
        self.now = self.timer()
        window = int(self.now // self.duration)
        self.window_end = (window + 1) * self.duration
        used = self.cache.get(f"{self.get_cache_key(request, None)}:{window}") or 0
        return used >= self.num_requests
