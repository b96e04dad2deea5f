"""Throttles: X-RateLimit-* headers on every throttled view, 429 envelope past the limit."""

import pytest


@pytest.fixture
def rates(settings):
    """Override some throttle rates for one test."""

    def override(**scoped_rates: str) -> None:
        current = settings.REST_FRAMEWORK
        settings.REST_FRAMEWORK = {
            **current,
            "DEFAULT_THROTTLE_RATES": {**current["DEFAULT_THROTTLE_RATES"], **scoped_rates},
        }

    return override


def _limits(response) -> tuple[int, int, int]:
    return (
        int(response["X-RateLimit-Limit"]),
        int(response["X-RateLimit-Remaining"]),
        int(response["X-RateLimit-Reset"]),
    )


def test_anonymous_calls_count_down_then_429(api_client, db, rates):
    rates(anon="3/min")

    responses = [api_client.get("/api/v1/auth/setup-status") for _ in range(4)]

    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    limits = [_limits(r) for r in responses]
    assert [limit for limit, _, _ in limits] == [3, 3, 3, 3]
    assert [remaining for _, remaining, _ in limits] == [2, 1, 0, 0]
    resets = [reset for _, _, reset in limits]
    assert resets == sorted(resets)  # a reset time never moves backwards within the window
    throttled = responses[-1]
    assert throttled.json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    assert int(throttled["Retry-After"]) >= 1


def test_anonymous_limit_is_per_client_ip(api_client, db, rates):
    rates(anon="1/min")
    api_client.get("/api/v1/auth/setup-status", REMOTE_ADDR="10.0.0.1")

    other_ip = api_client.get("/api/v1/auth/setup-status", REMOTE_ADDR="10.0.0.2")
    same_ip = api_client.get("/api/v1/auth/setup-status", REMOTE_ADDR="10.0.0.1")

    assert other_ip.status_code == 200
    assert same_ip.status_code == 429


def test_login_scope_is_stricter_than_anonymous(api_client, db, rates):
    rates(anon="5/min", login="2/min")

    # Invalid bodies still count: throttles run before the view looks at the input.
    responses = [api_client.post("/api/v1/auth/login", {}, format="json") for _ in range(3)]

    assert [r.status_code for r in responses] == [400, 400, 429]
    assert responses[-1].json()["error"]["code"] == "RATE_LIMIT_EXCEEDED"
    # With several throttles on a view the headers report the tightest one.
    assert [_limits(r)[:2] for r in responses] == [(2, 1), (2, 0), (2, 0)]
    # The anonymous budget is not used up: an unscoped view still answers.
    assert api_client.get("/api/v1/auth/setup-status").status_code == 200


def test_authenticated_calls_use_the_user_rate(bearer_client, user, rates):
    rates(user="2/min", anon="1/min")
    client = bearer_client(user)

    responses = [client.get("/api/v1/users/me") for _ in range(3)]

    assert [r.status_code for r in responses] == [200, 200, 429]
    assert [_limits(r)[:2] for r in responses] == [(2, 1), (2, 0), (2, 0)]


def test_unthrottled_views_carry_no_rate_headers(api_client, db):
    response = api_client.get("/health")

    assert "X-RateLimit-Limit" not in response


def test_a_fixed_window_counts_to_the_limit_then_opens_again(bearer_client, user, rates, monkeypatch):
    from django.core.cache import cache

    from core.throttling import UserRateThrottle

    rates(user="2/min")
    client = bearer_client(user)
    clock = {"now": 6000.0}  # the start of a minute window: 6000 // 60 = 100
    monkeypatch.setattr(UserRateThrottle, "timer", lambda self: clock["now"])

    first = [client.get("/api/v1/users/me") for _ in range(3)]
    clock["now"] = 6059.0
    still_blocked = client.get("/api/v1/users/me")
    clock["now"] = 6060.0  # the next window
    reopened = client.get("/api/v1/users/me")

    assert [r.status_code for r in first] == [200, 200, 429]
    assert [_limits(r) for r in first] == [(2, 1, 6060), (2, 0, 6060), (2, 0, 6060)]
    assert int(first[-1]["Retry-After"]) == 60
    assert still_blocked.status_code == 429 and int(still_blocked["Retry-After"]) == 1
    assert reopened.status_code == 200 and _limits(reopened) == (2, 1, 6120)
    # One integer per client and window, not a log of timestamps.
    assert cache.get(f"throttle_user_{user.pk}:100") == 4
