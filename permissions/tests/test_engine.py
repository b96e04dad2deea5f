"""The authorization engine: built-in defaults, policies (deny wins, conditions), subjects, cache and revision."""

from datetime import UTC, datetime

import pytest
from freezegun import freeze_time

from accounts.tests.factories import UserFactory
from core import authz
from core.actor import Actor
from core.errors import ErrorCode
from organizations import services as org_services
from organizations.context import OrgContext
from organizations.models import Membership, Organization, TeamMembership
from organizations.tests.factories import MembershipFactory, TeamFactory
from permissions import engine, selectors, services
from permissions.models import ApiKey, Policy, Role, RoleAssignment
from permissions.tests.helpers import temp_catalog  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

VIEWER = {"org:read", "members:read", "teams:read", "documents:read", "integrations:read", "messaging:read"}
MEMBER_EXTRA = {"documents:write", "messaging:write", "ai:use"}
ADMIN_EXCLUDED = {"org:delete", "org:transfer", "billing:manage"}


def allow_all(permissions) -> None:
    """A grant check that lets everything through (the API layer supplies the real one)."""


def decide(subject, organization, permission, facts=None) -> engine.Decision:
    return engine.decide(subject=subject, policies=engine.organization_policies(organization, fresh=True), permission=permission, facts=facts or engine.Facts())


def subject_of(membership, *, fresh=True) -> engine.Subject:
    organization = Organization.objects.get(id=membership.organization_id)
    return engine.member_subject(organization=organization, membership=membership, fresh=fresh)


# --- built-in roles ---------------------------------------------------------------------------


def test_builtin_defaults_follow_the_contract_for_todays_catalog():
    every = authz.codes()

    assert engine.builtin_permissions("viewer") == frozenset(VIEWER) & every
    assert {"org:read", "members:read", "teams:read"} <= engine.builtin_permissions("viewer")
    assert engine.builtin_permissions("member") == (frozenset(VIEWER) | MEMBER_EXTRA) & every
    assert engine.builtin_permissions("admin") == every - ADMIN_EXCLUDED
    assert engine.builtin_permissions("owner") == every
    assert engine.builtin_permissions("custom-thing") == frozenset()


def test_builtin_defaults_take_in_permissions_declared_later(temp_catalog):
    # given: the apps yet to land declare their permissions
    temp_catalog(
        "documents:read",
        "documents:write",
        "integrations:read",
        "integrations:manage",
        "billing:read",
        "billing:manage",
        "messaging:read",
        "messaging:write",
        "ai:use",
    )

    # then: the pinned defaults, exactly
    assert engine.builtin_permissions("viewer") == frozenset(VIEWER)
    assert engine.builtin_permissions("member") == frozenset(VIEWER | MEMBER_EXTRA)
    admin = engine.builtin_permissions("admin")
    assert admin == authz.codes() - ADMIN_EXCLUDED
    assert {"billing:read", "integrations:manage", "roles:manage", "api_keys:manage", "audit:read"} <= admin
    assert not admin & ADMIN_EXCLUDED
    assert engine.builtin_permissions("owner") == authz.codes()
    assert ADMIN_EXCLUDED <= engine.builtin_permissions("owner")


@pytest.mark.parametrize("role", ["owner", "admin", "member", "viewer"])
def test_member_subject_grants_exactly_the_builtin_role(org_factory, role):
    organization, members = org_factory(roles=("owner", "admin", "member", "viewer"))

    subject = subject_of(members[role])

    assert subject.permissions == engine.builtin_permissions(role)
    assert subject.roles == {role}


def test_builtin_role_row_grants_code_defaults_never_its_stored_column(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    services.roles_builtin_ensure(organization=organization)
    # A tampered column must not matter.
    Role.objects.filter(organization=organization, slug="viewer").update(permissions=["org:delete"])
    admin_row = Role.objects.get(organization=organization, slug="admin")
    admin_row.permissions = []
    admin_row.save()
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=admin_row)

    subject = subject_of(members["viewer"])

    assert "org:delete" not in subject.permissions
    assert subject.permissions == engine.builtin_permissions("admin")
    assert subject.roles == {"viewer", "admin"}


def test_roles_builtin_ensure_is_idempotent(org_factory, django_assert_num_queries):
    organization, _ = org_factory()

    services.roles_builtin_ensure(organization=organization)
    services.roles_builtin_ensure(organization=organization)

    assert sorted(Role.objects.filter(organization=organization, is_builtin=True).values_list("slug", flat=True)) == sorted(engine.BUILTIN_ROLES)
    with django_assert_num_queries(1):
        services.roles_builtin_ensure(organization=organization)


def test_permissions_are_the_union_of_base_role_and_assignments(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    auditor = Role.objects.create(organization=organization, slug="auditor", name="Auditor", permissions=["audit:read", "not:declared"])
    RoleAssignment.objects.create(organization=organization, user=members["viewer"].user, role=auditor)

    subject = subject_of(members["viewer"])

    assert subject.permissions == engine.builtin_permissions("viewer") | {"audit:read"}
    assert subject.roles == {"viewer", "auditor"}


def test_custom_base_role_grants_its_row(org_factory):
    organization, members = org_factory(roles=("owner",))
    Role.objects.create(organization=organization, slug="support", name="Support", permissions=["members:read", "members:update"])
    membership = MembershipFactory(organization=organization, role="support")

    assert subject_of(membership).permissions == {"members:read", "members:update"}


# --- decisions and policies -------------------------------------------------------------------


def test_role_grants_and_missing_permission_is_refused(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    subject = subject_of(members["viewer"])

    assert decide(subject, organization, "org:read").allowed
    refused = decide(subject, organization, "org:update")
    assert not refused.allowed and refused.code == ErrorCode.INSUFFICIENT_PERMISSIONS
    assert "org:update" in refused.reason


def test_unknown_permission_and_membership_sentinel(org_factory):
    organization, members = org_factory(roles=("owner",))
    owner = subject_of(members["owner"])

    unknown = decide(owner, organization, "nothing:here")
    assert not unknown.allowed and "unknown" in unknown.reason
    assert decide(owner, organization, engine.MEMBERSHIP).allowed
    key = engine.api_key_subject(api_key=ApiKey(scopes=["org:read"]))
    assert not decide(key, organization, engine.MEMBERSHIP).allowed


def test_deny_wins_over_role(org_factory):
    organization, members = org_factory(roles=("owner", "admin"))
    Policy.objects.create(organization=organization, name="freeze", effect="deny", permissions=["members:remove"])

    denied = decide(subject_of(members["owner"]), organization, "members:remove")

    assert not denied.allowed and "freeze" in denied.reason
    assert denied.code == ErrorCode.INSUFFICIENT_PERMISSIONS
    assert decide(subject_of(members["owner"]), organization, "members:read").allowed


def test_deny_wins_over_allow(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    Policy.objects.create(organization=organization, name="grant", effect="allow", permissions=["members:invite"])
    viewer = subject_of(members["viewer"])
    assert decide(viewer, organization, "members:invite").allowed

    Policy.objects.create(organization=organization, name="block", effect="deny", permissions=["members:invite"], subjects={"roles": ["viewer"]})

    assert not decide(viewer, organization, "members:invite").allowed


def test_allow_policy_adds_a_permission_and_wildcard_covers_all(org_factory):
    organization, members = org_factory(roles=("owner", "viewer", "member"))
    Policy.objects.create(organization=organization, name="viewers invite", effect="allow", permissions=["members:invite"], subjects={"roles": ["viewer"]})
    Policy.objects.create(organization=organization, name="lockdown", effect="deny", permissions=["*"], subjects={"roles": ["member"]})

    viewer_decision = decide(subject_of(members["viewer"]), organization, "members:invite")
    assert viewer_decision.allowed and "viewers invite" in viewer_decision.reason
    assert not decide(subject_of(members["member"]), organization, "members:invite").allowed
    assert not decide(subject_of(members["member"]), organization, "org:read").allowed
    assert decide(subject_of(members["owner"]), organization, "org:read").allowed


def test_mfa_required_deny_answers_mfa_required_until_mfa_verified(org_factory):
    organization, members = org_factory(roles=("owner",))
    Policy.objects.create(organization=organization, name="mfa billing", effect="deny", permissions=["org:update"], conditions={"mfa_required": True})
    owner = subject_of(members["owner"])

    without = decide(owner, organization, "org:update", engine.Facts(mfa=False))
    with_mfa = decide(owner, organization, "org:update", engine.Facts(mfa=True))

    assert not without.allowed and without.code == ErrorCode.MFA_REQUIRED
    assert with_mfa.allowed


def test_mfa_required_allow_grants_only_with_mfa(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    Policy.objects.create(organization=organization, name="mfa invite", effect="allow", permissions=["members:invite"], conditions={"mfa_required": True})
    viewer = subject_of(members["viewer"])

    assert not decide(viewer, organization, "members:invite", engine.Facts(mfa=False)).allowed
    assert decide(viewer, organization, "members:invite", engine.Facts(mfa=True)).allowed


@pytest.mark.parametrize(
    ("ip", "allowed"),
    [("10.1.2.3", True), ("192.168.0.10", True), ("192.168.1.10", False), ("8.8.8.8", False), (None, False), ("2001:db8::1", True), ("not-an-ip", False)],
)
def test_ip_ranges_deny_refuses_outside_the_ranges(org_factory, ip, allowed):
    organization, members = org_factory(roles=("owner",))
    Policy.objects.create(
        organization=organization,
        name="office only",
        effect="deny",
        permissions=["api_keys:manage"],
        conditions={"ip_ranges": ["10.0.0.0/8", "192.168.0.0/24", "2001:db8::/32"]},
    )

    decision = decide(subject_of(members["owner"]), organization, "api_keys:manage", engine.Facts(ip=ip))

    assert decision.allowed is allowed
    if not allowed:
        assert decision.code == ErrorCode.INSUFFICIENT_PERMISSIONS and "ip_ranges" in decision.reason


def test_ip_ranges_allow_grants_only_inside(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    Policy.objects.create(organization=organization, name="vpn", effect="allow", permissions=["members:invite"], conditions={"ip_ranges": ["10.0.0.0/8"]})
    viewer = subject_of(members["viewer"])

    assert decide(viewer, organization, "members:invite", engine.Facts(ip="10.9.9.9")).allowed
    assert not decide(viewer, organization, "members:invite", engine.Facts(ip="11.0.0.1")).allowed


# January: Paris is UTC+1. 2024-01-05 is a Friday (weekday 4).
@pytest.mark.parametrize(
    ("utc_time", "allowed"),
    [
        ("2024-01-05 21:30", True),  # Fri 22:30 Paris: evening of Friday's window
        ("2024-01-06 04:00", True),  # Sat 05:00 Paris: still Friday's window (across midnight)
        ("2024-01-06 05:30", False),  # Sat 06:30 Paris: Friday's window is over
        ("2024-01-06 21:30", False),  # Sat 22:30 Paris: Saturday is not a window day
        ("2024-01-05 03:00", False),  # Fri 04:00 Paris: belongs to Thursday's window
        ("2024-01-05 11:00", False),  # Fri noon
    ],
)
def test_time_window_across_midnight_with_days(org_factory, utc_time, allowed):
    organization, members = org_factory(roles=("owner", "viewer"))
    Policy.objects.create(
        organization=organization,
        name="friday night",
        effect="allow",
        permissions=["members:invite"],
        conditions={"time_window": {"start": "22:00", "end": "06:00", "days": [4], "timezone": "Europe/Paris"}},
    )
    viewer = subject_of(members["viewer"])

    with freeze_time(utc_time):
        decision = decide(viewer, organization, "members:invite", engine.Facts())

    assert decision.allowed is allowed


@pytest.mark.parametrize(
    ("utc_time", "allowed"), [("2024-01-03 10:00", True), ("2024-01-03 17:00", True), ("2024-01-03 17:01", False), ("2024-01-03 08:59", False)]
)
def test_time_window_deny_refuses_outside_business_hours(org_factory, utc_time, allowed):
    organization, members = org_factory(roles=("owner",))
    Policy.objects.create(
        organization=organization,
        name="office hours",
        effect="deny",
        permissions=["org:update"],
        conditions={"time_window": {"start": "09:00", "end": "17:00"}},
    )

    with freeze_time(utc_time):
        decision = decide(subject_of(members["owner"]), organization, "org:update", engine.Facts(now=None))

    assert decision.allowed is allowed
    if not allowed:
        assert "time_window" in decision.reason


def test_deny_without_any_real_condition_always_refuses(org_factory):
    organization, members = org_factory(roles=("owner",))
    Policy.objects.create(organization=organization, name="noop", effect="deny", permissions=["org:update"], conditions={"mfa_required": False})

    assert not decide(subject_of(members["owner"]), organization, "org:update", engine.Facts(mfa=True)).allowed


def test_unknown_condition_fails_closed(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    Policy.objects.create(organization=organization, name="odd allow", effect="allow", permissions=["members:invite"], conditions={"moon_phase": "full"})
    Policy.objects.create(organization=organization, name="odd deny", effect="deny", permissions=["org:update"], conditions={"moon_phase": "full"})

    assert not decide(subject_of(members["viewer"]), organization, "members:invite").allowed
    assert not decide(subject_of(members["owner"]), organization, "org:update").allowed


def test_subjects_by_role_user_and_team(org_factory):
    organization, members = org_factory(roles=("owner", "admin", "member"))
    other_admin = MembershipFactory(organization=organization, role="admin")
    team = TeamFactory(organization=organization)
    TeamMembership.objects.create(team=team, user=other_admin.user)
    Policy.objects.create(organization=organization, name="by role", effect="deny", permissions=["teams:read"], subjects={"roles": ["member"]})
    Policy.objects.create(
        organization=organization, name="by user", effect="deny", permissions=["members:invite"], subjects={"users": [str(members["admin"].user_id)]}
    )
    Policy.objects.create(organization=organization, name="by team", effect="deny", permissions=["teams:manage"], subjects={"teams": [str(team.id)]})

    member, admin, teammate = subject_of(members["member"]), subject_of(members["admin"]), subject_of(other_admin)

    assert not decide(member, organization, "teams:read").allowed
    assert decide(admin, organization, "teams:read").allowed
    assert not decide(admin, organization, "members:invite").allowed
    assert decide(teammate, organization, "members:invite").allowed
    assert teammate.teams == {str(team.id)}
    assert not decide(teammate, organization, "teams:manage").allowed
    assert decide(admin, organization, "teams:manage").allowed


def test_subject_roles_include_extra_roles_for_policy_subjects(org_factory):
    organization, members = org_factory(roles=("owner", "admin"))
    contractor = Role.objects.create(organization=organization, slug="contractor", name="Contractor", permissions=[])
    RoleAssignment.objects.create(organization=organization, user=members["admin"].user, role=contractor)
    Policy.objects.create(organization=organization, name="contractors", effect="deny", permissions=["members:read"], subjects={"roles": ["contractor"]})

    assert not decide(subject_of(members["admin"]), organization, "members:read").allowed


def test_key_subjects_act_for_their_creator_within_their_scopes(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    scopes = ["members:read", "teams:read", "org:read", "members:invite", "members:remove", "not:declared"]
    key = engine.api_key_subject(api_key=ApiKey(organization=organization, created_by=members["viewer"].user, scopes=scopes))
    Policy.objects.create(organization=organization, name="members role", effect="deny", permissions=["members:read"], subjects={"roles": ["viewer"]})
    Policy.objects.create(organization=organization, name="everyone", effect="deny", permissions=["teams:read"])
    Policy.objects.create(
        organization=organization, name="allow viewers", effect="allow", permissions=["members:invite", "members:update"], subjects={"roles": ["viewer"]}
    )

    assert key.permissions == {"members:read", "teams:read", "org:read"}  # scopes ∩ the creator's role grants
    assert key.user_id == str(members["viewer"].user_id) and key.roles == {"viewer"}
    assert not decide(key, organization, "members:read").allowed  # a deny aimed at the creator's role binds the key
    assert not decide(key, organization, "teams:read").allowed  # so does a subject-less one
    assert decide(key, organization, "members:invite").allowed  # an allow naming the creator, within the scopes
    assert not decide(key, organization, "members:update").allowed  # never beyond the scopes
    assert not decide(key, organization, "members:remove").allowed  # nor beyond the creator
    assert decide(key, organization, "org:read").reason == "granted by API key scope"
    nobody = engine.api_key_subject(api_key=ApiKey(organization=organization, scopes=scopes))
    assert not any(decide(nobody, organization, code).allowed for code in ("org:read", "members:invite"))  # no creator: nothing


def test_effective_permissions_is_union_minus_denies(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    Policy.objects.create(organization=organization, name="+invite", effect="allow", permissions=["members:invite"], subjects={"roles": ["viewer"]})
    Policy.objects.create(organization=organization, name="-teams", effect="deny", permissions=["teams:read"])

    codes = engine.effective_permissions(subject=subject_of(members["viewer"]), policies=engine.organization_policies(organization), facts=engine.Facts())

    assert set(codes) == (engine.builtin_permissions("viewer") | {"members:invite"}) - {"teams:read"}
    assert codes == sorted(codes)


def test_time_window_malformed_never_met():
    window = {"start": "25:99", "end": "06:00"}

    assert engine.unmet_condition({"time_window": window}, engine.Facts(now=datetime(2024, 1, 1, tzinfo=UTC))) == "time_window"


# --- cache and revision -----------------------------------------------------------------------


def test_fifty_permissions_cost_two_queries_cold_and_none_warm(org_factory, temp_catalog, django_assert_max_num_queries, django_assert_num_queries):
    temp_catalog(*[f"bench{i:02d}:use" for i in range(40)])
    organization, members = org_factory(roles=("owner", "member"))
    bench = Role.objects.create(organization=organization, slug="bench", name="Bench", permissions=[f"bench{i:02d}:use" for i in range(0, 40, 2)])
    RoleAssignment.objects.create(organization=organization, user=members["member"].user, role=bench)
    Policy.objects.create(organization=organization, name="no bench 00", effect="deny", permissions=["bench00:use"])
    Policy.objects.create(organization=organization, name="bench 01", effect="allow", permissions=["bench01:use"], conditions={"mfa_required": True})
    membership = Membership.objects.get(id=members["member"].id)
    organization = Organization.objects.get(id=organization.id)
    permissions = sorted(authz.codes())[:50]
    assert len(permissions) == 50
    facts = engine.Facts(mfa=True, ip="10.0.0.1")

    def evaluate() -> dict[str, bool]:
        subject = engine.member_subject(organization=organization, membership=membership)
        policies = engine.organization_policies(organization)
        return {p: engine.decide(subject=subject, policies=policies, permission=p, facts=facts).allowed for p in permissions}

    with django_assert_max_num_queries(2):
        cold = evaluate()
    with django_assert_num_queries(0):
        warm = evaluate()

    assert cold == warm
    assert not cold["bench00:use"] and cold["bench01:use"] and cold["bench02:use"] and not cold["bench03:use"]


def test_every_role_assignment_membership_and_policy_change_bumps_the_revision(org_factory):
    organization, members = org_factory(roles=("owner", "admin", "viewer"))
    actor = Actor.for_user(members["owner"].user)
    revisions = [Organization.objects.get(id=organization.id).authz_revision]

    def bumped() -> None:
        revisions.append(Organization.objects.get(id=organization.id).authz_revision)
        assert revisions[-1] > revisions[-2]

    role = services.role_create(organization=organization, actor=actor, name="Ops", permissions=["teams:read"], ensure_grantable=allow_all)
    bumped()
    role = services.role_update(role=role, actor=actor, data={"name": "Operations"}, ensure_grantable=allow_all)
    bumped()
    role = services.role_permissions_set(role=role, actor=actor, permissions=["teams:read", "teams:manage"], ensure_grantable=allow_all)
    bumped()
    assignment = services.role_assignment_create(
        organization=organization, actor=actor, user_id=members["viewer"].user_id, role_id=role.id, ensure_grantable=allow_all, ensure_not_better=allow_all
    )
    bumped()
    services.role_assignment_delete(assignment=assignment, actor=actor, ensure_grantable=allow_all, ensure_not_better=allow_all)
    bumped()
    services.role_delete(role=role, actor=actor)
    bumped()
    policy = services.policy_create(
        organization=organization, actor=actor, name="p", effect="deny", permissions=["org:update"], ensure_grantable=allow_all, ensure_not_better=allow_all
    )
    bumped()
    policy = services.policy_update(
        policy=policy, actor=actor, data={"conditions": {"mfa_required": True}}, ensure_grantable=allow_all, ensure_not_better=allow_all
    )
    bumped()
    services.policy_delete(policy=policy, actor=actor, ensure_grantable=allow_all)
    bumped()
    org_services.member_update(
        membership=members["viewer"],
        actor=actor,
        actor_membership=members["owner"],
        data={"role": "admin"},
        ensure_role_grantable=allow_all,
        ensure_not_better=allow_all,
    )
    bumped()
    org_services.member_update(
        membership=members["viewer"],
        actor=actor,
        actor_membership=members["owner"],
        data={"status": "suspended"},
        ensure_role_grantable=allow_all,
        ensure_not_better=allow_all,
    )
    bumped()
    newcomer = UserFactory()
    org_services.membership_add(organization=organization, user=newcomer, role="viewer", actor=Actor.for_user(newcomer))
    bumped()
    org_services.member_remove(membership=Membership.objects.get(organization=organization, user=newcomer), actor=actor, ensure_not_better=allow_all)
    bumped()
    org_services.ownership_transfer(organization=organization, actor=actor, new_owner_id=members["admin"].user_id)
    bumped()


def test_cached_answers_change_right_after_a_change(org_factory):
    organization, members = org_factory(roles=("owner", "admin"))
    actor = Actor.for_user(members["owner"].user)

    def can(permission: str) -> bool:
        org = Organization.objects.get(id=organization.id)  # each request reads the revision afresh
        membership = Membership.objects.get(id=members["admin"].id)
        subject = engine.member_subject(organization=org, membership=membership)
        return engine.decide(subject=subject, policies=engine.organization_policies(org), permission=permission, facts=engine.Facts()).allowed

    assert can("members:update")  # cached now
    org_services.member_update(
        membership=members["admin"],
        actor=actor,
        actor_membership=members["owner"],
        data={"role": "viewer"},
        ensure_role_grantable=allow_all,
        ensure_not_better=allow_all,
    )
    assert not can("members:update")  # no stale grant after a downgrade

    extra = services.role_create(organization=organization, actor=actor, name="Updaters", permissions=["members:update"], ensure_grantable=allow_all)
    services.role_assignment_create(
        organization=organization, actor=actor, user_id=members["admin"].user_id, role_id=extra.id, ensure_grantable=allow_all, ensure_not_better=allow_all
    )
    assert can("members:update")
    services.role_permissions_set(role=extra, actor=actor, permissions=["teams:manage"], ensure_grantable=allow_all)
    assert not can("members:update") and can("teams:manage")
    policy = services.policy_create(
        organization=organization,
        actor=actor,
        name="no teams",
        effect="deny",
        permissions=["teams:manage"],
        ensure_grantable=allow_all,
        ensure_not_better=allow_all,
    )
    assert not can("teams:manage")
    services.policy_delete(policy=policy, actor=actor, ensure_grantable=allow_all)
    assert can("teams:manage")


def test_at_least_revision_reads_the_revision_again_and_skips_the_cache(org_factory):
    organization, members = org_factory(roles=("owner", "viewer"))
    actor = Actor.for_user(members["owner"].user)
    role = services.role_create(organization=organization, actor=actor, name="Inviters", permissions=["members:invite"], ensure_grantable=allow_all)
    services.role_assignment_create(
        organization=organization, actor=actor, user_id=members["viewer"].user_id, role_id=role.id, ensure_grantable=allow_all, ensure_not_better=allow_all
    )
    membership = Membership.objects.select_related("organization").get(id=members["viewer"].id)
    # A context whose org was read before the change below (a replica, a long request...).
    stale = OrgContext(organization=membership.organization, membership=membership)
    seen = stale.organization.authz_revision
    assert selectors.decisions(evaluation=selectors.evaluation_prepare(context=stale, facts=engine.Facts()), permissions=["members:invite"]) == {
        "members:invite": True
    }

    services.role_permissions_set(role=role, actor=actor, permissions=["teams:manage"], ensure_grantable=allow_all)
    latest = Organization.objects.get(id=organization.id).authz_revision

    cached = selectors.evaluation_prepare(context=stale, facts=engine.Facts())
    fresh = selectors.evaluation_prepare(context=stale, facts=engine.Facts(), at_least_revision=latest)

    assert cached.revision == seen and selectors.decisions(evaluation=cached, permissions=["members:invite"]) == {"members:invite": True}
    assert fresh.revision == latest > seen
    assert selectors.decisions(evaluation=fresh, permissions=["members:invite", "teams:manage"]) == {"members:invite": False, "teams:manage": True}


def test_member_inputs_read_subject_and_policies_in_one_cache_round_trip(org_factory, django_assert_num_queries, monkeypatch):
    organization, members = org_factory(roles=("owner", "viewer"))
    Policy.objects.create(organization=organization, name="-teams", effect="deny", permissions=["teams:read"])
    viewer = members["viewer"]

    with django_assert_num_queries(2):  # cold: roles, policies
        cold = engine.member_inputs(organization=organization, membership=viewer)
    reads = []
    real_get_many = engine.cache.get_many
    monkeypatch.setattr(engine.cache, "get_many", lambda keys: reads.append(keys) or real_get_many(keys))
    with django_assert_num_queries(0):
        warm = engine.member_inputs(organization=organization, membership=viewer)

    assert len(reads) == 1  # one get_many: a single MGET on Redis
    assert warm == cold
    assert cold[0] == subject_of(viewer) and [rule.name for rule in cold[1]] == ["-teams"]


def test_with_the_cache_away_a_member_costs_one_policy_read(org_factory, settings):
    """member_inputs hands the policies it read to member_subject: read once, not twice (issue 19)."""
    from django.core.cache import caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}  # every read misses
    assert caches["default"].get("anything", "miss") == "miss"
    organization, members = org_factory(roles=("owner", "member"))
    with CaptureQueriesContext(connection) as queries:
        subject, policies = engine.member_inputs(organization=organization, membership=members["member"])
    policy_reads = [q["sql"] for q in queries.captured_queries if "permissions_policy" in q["sql"]]
    assert len(policy_reads) == 1, policy_reads
    assert "members:read" in subject.permissions and policies == []


def test_with_the_cache_away_a_worker_keeps_its_own_copy_of_policies_and_subjects(org_factory, settings, monkeypatch):
    """While Redis is away (breaker open), revision-keyed inputs are read once per worker, and a revision bump reads again."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from core import cache as core_cache
    from organizations.services import authz_revision_bump

    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}  # every read misses
    engine._outage_copies.clear()
    organization, members = org_factory(roles=("owner", "member"))

    def authz_reads(membership) -> int:
        with CaptureQueriesContext(connection) as queries:
            subject, _ = engine.member_inputs(organization=organization, membership=membership)
        assert "members:read" in subject.permissions
        return sum(1 for q in queries.captured_queries if "permissions_policy" in q["sql"] or "permissions_role" in q["sql"])

    # given the cache reachable: nothing is copied, every miss reads the database
    monkeypatch.setattr(core_cache, "cache_outage", lambda: False)
    assert authz_reads(members["member"]) >= 2
    assert authz_reads(members["member"]) >= 2

    # when the cache is away: the first request reads, the next ones use the worker's copy
    monkeypatch.setattr(core_cache, "cache_outage", lambda: True)
    assert authz_reads(members["member"]) >= 2
    assert authz_reads(members["member"]) == 0

    # then a change of the org's authorization (a new revision) is read afresh, never served stale
    authz_revision_bump(organization=organization)
    assert authz_reads(members["member"]) >= 2
    engine._outage_copies.clear()
