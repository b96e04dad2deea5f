"""Facts about the caller of a request."""
from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """Return the client's IP, trusting X-Forwarded-For only for the configured number of proxies."""
    request = getattr(request, "_request", request)
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies and forwarded:
        hops = [part.strip() for part in forwarded.split(",") if part.strip()]
        if hops:
            return hops[-min(proxies, len(hops))]
    return request.META.get("REMOTE_ADDR") or None


def user_agent(request: HttpRequest) -> str:
    """Return the User-Agent header, bounded so a huge header cannot bloat rows."""
    request = getattr(request, "_request", request)
    return (request.META.get("HTTP_USER_AGENT") or "")[:512]
