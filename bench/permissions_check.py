"""Benchmark: POST /api/v1/orgs/{id}/permissions/check-many with 50 permissions, warm and cold caches.

Warm: the member's roles and the org's policies come from the cache (the normal case).
Cold: every request sends `at_least_revision` newer than the org's, the API's own way of
asking for a fresh answer: the revision is re-read and roles and policies are recomputed
from the database (what the first request after a role change pays).
The org has three policies (an IP-range deny, an MFA deny, a member-scoped allow), so the
decisions run their conditions; the 50 checks cycle through every declared permission.

    .venv/bin/python bench/permissions_check.py [--duration 10]
"""

import harness

CHECKS = 50


def seed(bench: harness.Bench) -> dict:
    from core import authz
    from core.actor import Actor
    from permissions import services as perm_services

    organization, owner = harness.organization_with_members("checks", 20)
    policies = [
        ("office network only", "deny", ["billing:manage", "org:delete"], {}, {"ip_ranges": ["127.0.0.0/8", "10.0.0.0/8"]}),
        ("mfa for keys", "deny", ["api_keys:manage"], {}, {"mfa_required": True}),
        ("members read audit", "allow", ["audit:read"], {"roles": ["member"]}, {}),
    ]
    for name, effect, permissions, subjects, conditions in policies:
        perm_services.policy_create(
            organization=organization, actor=Actor.for_user(owner), name=name, effect=effect, permissions=permissions,
            ensure_grantable=lambda permissions: None, ensure_not_better=lambda members: None,
            subjects=subjects, conditions=conditions,
        )  # fmt: skip
    codes = sorted(authz.codes())
    permissions = [codes[n % len(codes)] for n in range(CHECKS)]
    organization.refresh_from_db()
    return {
        "path": f"/api/v1/orgs/{organization.id}/permissions/check-many",
        "token": harness.access_token(owner, organization),
        "permissions": permissions,
        "revision": organization.authz_revision,
    }


def measure(bench: harness.Bench, seeded: dict) -> harness.Measured:
    warm = {"permissions": seeded["permissions"]}
    # Newer than any revision the org will reach: each request is answered fresh.
    cold = {"permissions": seeded["permissions"], "at_least_revision": seeded["revision"] + 1_000_000}
    for body in (warm, cold):
        answer = bench.expect("POST", seeded["path"], token=seeded["token"], body=body)
        assert answer["results"]["members:read"] is True and answer["results"]["api_keys:manage"] is False, answer
    rows = [
        bench.wrk("checks_warm", f"POST permissions/check-many ({CHECKS}), warm", method="POST", path=seeded["path"], token=seeded["token"], body=warm),
        bench.wrk("checks_cold", f"POST permissions/check-many ({CHECKS}), cold", method="POST", path=seeded["path"], token=seeded["token"], body=cold),
    ]
    return harness.Measured(rows=rows)


if __name__ == "__main__":
    import sys

    harness.standalone(sys.modules[__name__])
