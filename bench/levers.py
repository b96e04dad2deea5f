"""In-process A/B of per-request levers on one path (issue 17): CPU ms per request with each lever, interleaved rounds.

One process, Django's sync handler (as the WSGI worker runs it), the benchmark database and Redis
cache (bench/harness.py), the path's data seeded as `bench/profile_path.py` seeds it. Each round
runs every variant once (`--requests` requests after 20 warm-up ones) in the same order, so drift
of a shared machine hits them alike; the medians are printed. Variants:

- `as is`: the code as it stands;
- `uncompiled`: the levers taken in issue 17 switched off: the sign-in methods and the refresh's
  session with its user queried through the ORM each time (not core.sql.CompiledQuery), the
  member list's page 1 through DRF's path, ModelSerializer fields built per instance and a
  token's claims reading the membership once per hook (no core.memo scope);
- `api-only chain`: without the middlewares only the browser needs (session, CSRF, auth, OTP,
  messages, X-Frame-Options, allauth, whitenoise, CSP);
- `no prometheus`: without django_prometheus's two middlewares;
- `no token memory`: every access token's signature checked again (accounts.token_backend.VerifiedTokens off);
- `orjson`: DRF rendering with orjson (when installed) instead of the json module.

    .venv/bin/python bench/levers.py me --rounds 6 --requests 300
"""

import argparse
import contextlib
import statistics
import sys
import time

import profile_path
from django.conf import settings
from django.test import override_settings
from rest_framework import serializers as drf_serializers
from rest_framework.generics import ListAPIView
from rest_framework.renderers import BaseRenderer
from rest_framework.settings import api_settings

import accounts.api.serializers as user_serializers
import accounts.selectors as account_selectors
import accounts.sessions as account_sessions
import accounts.token_backend as token_backend
import accounts.tokens as account_tokens
import core.pagination as core_pagination
import core.serializers as core_serializers
from accounts.models import UserSession

BROWSER_ONLY = {
    "django.contrib.sessions.middleware.SessionMiddleware", "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware", "django_otp.middleware.OTPMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware", "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware", "whitenoise.middleware.WhiteNoiseMiddleware", "csp.middleware.CSPMiddleware",
}  # fmt: skip
PROMETHEUS = {"django_prometheus.middleware.PrometheusBeforeMiddleware", "django_prometheus.middleware.PrometheusAfterMiddleware"}


class ORJSONRenderer(BaseRenderer):
    """DRF's JSON rendering through orjson (the `orjson` variant)."""

    media_type = "application/json"
    format = "json"
    charset = None

    def render(self, data, accepted_media_type=None, renderer_context=None):
        import orjson

        return b"" if data is None else orjson.dumps(data, default=str)


def _uncompiled_sign_in_methods(*, user):
    rows = list(account_selectors._sign_in_methods_query(user))
    return any(kind == "factor" for kind, _ in rows), sorted({name for kind, name in rows if kind == "provider"})


def _uncompiled_session_with_user(session_id):
    return UserSession.objects.select_related("user").filter(id=session_id).first()


class Levers:
    """Switch the taken levers off (monkeypatching) and back on."""

    def __init__(self):
        self.methods = user_serializers.user_sign_in_methods
        self.get_fields = core_serializers.ModelSerializer.get_fields
        self.session_with_user = account_sessions._session_with_user
        self.memo_scope = account_tokens.memo_scope
        self.first_page_list = core_pagination.CompiledFirstPageMixin.list

    def off(self):
        user_serializers.user_sign_in_methods = _uncompiled_sign_in_methods
        core_serializers.ModelSerializer.get_fields = drf_serializers.ModelSerializer.get_fields
        account_sessions._session_with_user = _uncompiled_session_with_user
        account_tokens.memo_scope = contextlib.nullcontext
        core_pagination.CompiledFirstPageMixin.list = lambda view, request, *args, **kwargs: ListAPIView.list(view, request, *args, **kwargs)

    def on(self):
        user_serializers.user_sign_in_methods = self.methods
        core_serializers.ModelSerializer.get_fields = self.get_fields
        account_sessions._session_with_user = self.session_with_user
        account_tokens.memo_scope = self.memo_scope
        core_pagination.CompiledFirstPageMixin.list = self.first_page_list


def variants() -> dict[str, dict]:
    chain = list(settings.MIDDLEWARE)
    found = {
        "as is": {},
        "uncompiled": {"levers_off": True},
        "api-only chain": {"MIDDLEWARE": [name for name in chain if name not in BROWSER_ONLY]},
        "no prometheus": {"MIDDLEWARE": [name for name in chain if name not in PROMETHEUS]},
        "no token memory": {"token_memory_off": True},
    }
    try:
        import orjson  # noqa: F401

        found["orjson"] = {"REST_FRAMEWORK": {**settings.REST_FRAMEWORK, "DEFAULT_RENDERER_CLASSES": ["levers.ORJSONRenderer"]}}
    except ImportError:
        print("orjson is not installed: no orjson variant", file=sys.stderr)
    return found


def cpu_ms(next_call, overrides: dict, levers: Levers, requests: int) -> float:
    overrides = dict(overrides)
    if overrides.pop("levers_off", False):
        levers.off()
    if overrides.pop("token_memory_off", False):
        token_backend.verified_tokens.size = 0
    try:
        with override_settings(**overrides):
            api_settings.reload()
            send = profile_path.sync_sender()  # a new handler: it reads MIDDLEWARE now
            for _ in range(20):
                send(next_call())
            started = time.process_time()
            for _ in range(requests):
                send(next_call())
            return (time.process_time() - started) * 1000 / requests
    finally:
        api_settings.reload()
        levers.on()
        token_backend.verified_tokens.size = token_backend.VERIFIED_TOKENS_MAX


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", choices=sorted(profile_path.PATHS))
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--requests", type=int, default=300)
    args = parser.parse_args()
    harness = profile_path.harness
    harness.database_prepare(verbose=False)
    harness.data_reset()
    found = variants()
    next_call = profile_path.PATHS[args.path](args.rounds * len(found) * (args.requests + 20) + 10)
    levers = Levers()
    results: dict[str, list[float]] = {name: [] for name in found}
    for _ in range(args.rounds):
        for name, overrides in found.items():
            results[name].append(cpu_ms(next_call, overrides, levers, args.requests))
    base = statistics.median(results["as is"])
    print(f"{args.path}: CPU ms per request in process, median of {args.rounds} interleaved rounds of {args.requests}")
    for name, values in results.items():
        median = statistics.median(values)
        rounds = " ".join(f"{value:.2f}" for value in values)
        print(f"  {name:15s} {median:5.2f}  ({median - base:+.2f} vs as is)   rounds {rounds}")
    harness.data_reset()


if __name__ == "__main__":
    main()
