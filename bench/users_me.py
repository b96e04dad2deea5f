"""Benchmark: GET /api/v1/users/me against both ceilings; issue 17's goal ≥ 0.6× the bare ceiling's requests/s.

The cheapest authenticated read of the API, as clients call it after sign-in: bearer token and
session check, throttle, the profile and the active organization's context.

    .venv/bin/python bench/users_me.py [--duration 10]
"""

import harness


def seed(bench: harness.Bench) -> dict:
    organization, owner = harness.organization_with_members("me", 5)
    return {"path": "/api/v1/users/me", "token": harness.access_token(owner, organization), "email": owner.email}


def measure(bench: harness.Bench, seeded: dict) -> harness.Measured:
    body = bench.expect("GET", seeded["path"], token=seeded["token"])
    assert body["email"] == seeded["email"], body
    row = bench.wrk("users_me", "GET users/me", path=seeded["path"], token=seeded["token"])
    return harness.Measured(rows=[row])  # its goal is one of harness.BARE_GOALS


if __name__ == "__main__":
    import sys

    harness.standalone(sys.modules[__name__])
