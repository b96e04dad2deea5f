"""Facts about the caller of a request, and what a request may carry."""

from django.conf import settings
from django.http import HttpRequest
from django.urls import Resolver404, resolve

from core.net import ip_normalize

# URL name of the catch-all that answers unknown /api/ paths (config/urls.py).
API_NOT_FOUND = "api-not-found"


def _address(value: str | None) -> str | None:
    """The IP address in `value` (bare, or with a port as some proxies write it), else None."""
    value = (value or "").strip()
    if value.startswith("["):  # [2001:db8::1]:443
        value = value[1:].partition("]")[0]
    elif value.count(":") == 1:  # 203.0.113.7:443
        value = value.partition(":")[0]
    return ip_normalize(value)


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP: the one function throttles, lockouts, policies, API-key allow-lists and audit use.

    X-Forwarded-For is trusted for exactly `NUM_PROXIES` hops, counted from the right: each of
    our proxies appends the address it saw, so the entry NUM_PROXIES from the end was written by
    our outermost proxy; everything left of it is whatever the client chose to send. With
    NUM_PROXIES=0 the header is ignored. Not an IP address → None (unknown).
    """
    request = getattr(request, "_request", request)
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [part.strip() for part in forwarded.split(",") if part.strip()]
        if hops:
            # Fewer hops than proxies: the request skipped the outer ones, and the left-most entry
            # was still written by one of ours (the client's own header would add hops, not remove them).
            return _address(hops[-min(proxies, len(hops))])
    return _address(request.META.get("REMOTE_ADDR"))


def user_agent(request: HttpRequest) -> str:
    """Return the User-Agent header, bounded so a huge header cannot bloat rows."""
    request = getattr(request, "_request", request)
    return (request.META.get("HTTP_USER_AGENT") or "")[:512]


def request_body_limit(path: str) -> int | None:
    """The most bytes a request body to `path` may have (None: no limit).

    `DATA_UPLOAD_MAX_MEMORY_SIZE`, unless the view routed there declares a larger allowance with
    a `max_request_body_bytes()` class method (document uploads).
    """
    default = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    for candidate in dict.fromkeys((path, path.rstrip("/") or "/")):
        try:
            match = resolve(candidate)
        except Resolver404:
            continue
        if match.url_name == API_NOT_FOUND:
            # The catch-all 404 of unknown /api/ paths: the path may still be a route without its slash.
            continue
        view_class = getattr(match.func, "view_class", None)
        allowance = getattr(view_class, "max_request_body_bytes", None)
        return allowance() if callable(allowance) else default
    return default
