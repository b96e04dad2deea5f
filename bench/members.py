"""Benchmark: GET /api/v1/orgs/{id}/members (20 members) against the ceiling; goal ≥ 0.8× its requests/s.

The member list does what a typical org-scoped read does: bearer token and session check,
org context (membership), the `members:read` permission decision, a throttle, one page.

    .venv/bin/python bench/members.py [--duration 10]
"""

import harness

MEMBERS = 20
GOAL_RATIO = 0.8


def seed(bench: harness.Bench) -> dict:
    organization, owner = harness.organization_with_members("members", MEMBERS)
    return {"path": f"/api/v1/orgs/{organization.id}/members", "token": harness.access_token(owner, organization)}


def measure(bench: harness.Bench, seeded: dict) -> harness.Measured:
    body = bench.expect("GET", seeded["path"], token=seeded["token"])
    assert len(body["data"]) == MEMBERS, body
    row = bench.wrk("members", f"GET orgs/{{id}}/members ({MEMBERS} members)", path=seeded["path"], token=seeded["token"])

    def check(rows):
        ratio = rows["members"].rps / rows["ceiling"].rps
        return ratio >= GOAL_RATIO, f"{ratio:.2f}× ceiling req/s"

    return harness.Measured(rows=[row], goals=[harness.Goal(f"members list ≥ {GOAL_RATIO}× ceiling req/s", check)])


if __name__ == "__main__":
    import sys

    harness.standalone(sys.modules[__name__])
