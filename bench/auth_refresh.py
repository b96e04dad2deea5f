"""Benchmark: POST /api/v1/auth/refresh; goal ≥ 240 requests/s per core (twice Keycloak's 120 per vCPU).

Refresh tokens rotate and a reused one revokes its session, so every request spends a token
of its own: sessions are minted in bulk beforehand and wrk's Lua script hands out the next
token per request (bench/wrk/scenario.lua). Each session has the org active, so the new
access token carries the org's role and plan claims, as in real use.

    .venv/bin/python bench/auth_refresh.py [--duration 10]
"""

import harness

GOAL_PER_CORE = 240
# Tokens minted per second of load: far above what 2 cores can serve, so none is used twice.
TOKENS_PER_SECOND = 1500


def _mint(user, organization, count: int) -> list[str]:
    from datetime import timedelta

    from django.conf import settings

    from accounts.models import UserSession
    from accounts.tokens import issue_refresh, new_jti
    from core import clock

    now = clock.now()
    lifetime: timedelta = settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    sessions = UserSession.objects.bulk_create(
        UserSession(user=user, created_at=now, last_used_at=now, expires_at=now + lifetime, refresh_jti=new_jti(),
                    organization_id=organization.id, ip="127.0.0.1", user_agent="bench")
        for _ in range(count)
    )  # fmt: skip
    return [issue_refresh(user=user, session=session, jti=session.refresh_jti) for session in sessions]


def seed(bench: harness.Bench) -> dict:
    organization, owner = harness.organization_with_members("refresh", 2)
    args = bench.args
    return {
        "smoke": _mint(owner, organization, 1),
        "warmup": _mint(owner, organization, int(TOKENS_PER_SECOND * max(args.warmup, 1))),
        "measure": _mint(owner, organization, int(TOKENS_PER_SECOND * args.duration)),
    }


def measure(bench: harness.Bench, seeded: dict) -> harness.Measured:
    answer = bench.expect("POST", "/api/v1/auth/refresh", body={"refresh_token": seeded["smoke"][0]})
    assert answer["access_token"] and answer["refresh_token"] != seeded["smoke"][0], answer
    row = bench.wrk(
        "refresh", "POST auth/refresh (rotation)", method="POST", path="/api/v1/auth/refresh",
        refresh_tokens=seeded["measure"], warmup_tokens=seeded["warmup"],
    )  # fmt: skip

    def check(rows):
        per_core = rows["refresh"].rps / harness.CORES
        # Beside it, per core of the server's own CPU: wrk and PostgreSQL share the machine's cores.
        cpu_ms = rows["refresh"].cpu_ms
        per_server_core = f" ({1000 / cpu_ms:.0f} per core of server CPU)" if cpu_ms else ""
        return per_core >= GOAL_PER_CORE, f"{per_core:.0f} req/s per core{per_server_core}"

    return harness.Measured(rows=[row], goals=[harness.Goal(f"refresh ≥ {GOAL_PER_CORE} req/s per core ({harness.CORES} cores)", check)])


if __name__ == "__main__":
    import sys

    harness.standalone(sys.modules[__name__])
