"""No escalation, as a property: random members of one org make grant-changing API calls, invariants hold after each.

A hypothesis `RuleBasedStateMachine` drives the real API (the test client, real login, real
views) with the calls that change who may do what: custom roles, role assignments, member role
and status changes, removals, team membership, invites with `team_ids`, API keys (create,
rotate, revoke, also by a key), policies (create, update, delete) and the MFA fact of a session.
After every step it checks, from the database:

(a) no member's effective permission set grew unless the actor of that step held each new
    permission effectively (with its own MFA/IP facts) — the owner, root of trust, excepted;
    a refused call changes nobody's permissions;
(b) exactly one owner, who can always delete every policy (tried, then rolled back);
(c) no API key acts beyond its creator's current effective permissions (nor beyond its scopes);
(d) nothing of the other org is visible to any member or key.

Bounded in `make test` (PROPERTY_MAX_EXAMPLES, default 20 examples of up to 20 steps); `make fuzz`
runs it longer. The counts ran are printed in the terminal summary.
"""

import os

import pytest
from django.core.cache import cache
from django.db import transaction
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import UntypedToken

from accounts.models import UserSession
from accounts.tests.factories import UserFactory
from accounts.tokens import issue_access
from conftest import client_for
from core import authz, clock
from organizations.context import OrgContext
from organizations.models import Membership, Organization
from organizations.tests.factories import MembershipFactory, OrganizationFactory
from permissions import engine
from permissions.drf import decision_inputs
from permissions.models import ApiKey, Policy

MAX_EXAMPLES = int(os.environ.get("PROPERTY_MAX_EXAMPLES", "20"))
MAX_STEPS = int(os.environ.get("PROPERTY_MAX_STEPS", "20"))
IP = "127.0.0.1"  # the test client's REMOTE_ADDR

# The permissions worth moving around: every grant-changing power, plus a few others.
INTERESTING = [
    "org:read",
    "org:update",
    "org:delete",
    "members:read",
    "members:invite",
    "members:update",
    "members:remove",
    "teams:read",
    "teams:manage",
    "roles:manage",
    "billing:read",
    "billing:manage",
    "api_keys:manage",
    "audit:read",
    "documents:write",
]
HUMANS = ["owner", "admin", "hr", "member", "viewer"]
# Who acts, weighted towards the members whose grants are limited and interesting.
ACTORS = st.sampled_from(["owner", "admin", "admin", "hr", "hr", "hr", "member", "viewer"])
TARGETS = HUMANS + ["joiner"]
HR_PERMISSIONS = ["members:read", "members:update", "members:remove", "teams:read", "teams:manage", "members:invite"]

POWERS = ["roles:manage", "members:remove", "members:update", "billing:manage", "api_keys:manage", "org:delete", "teams:manage"]
# Half the draws come from the powers, so a few steps reach the interesting collisions.
perm_sets = st.lists(st.one_of(st.sampled_from(POWERS), st.sampled_from(INTERESTING)), min_size=1, max_size=4, unique=True)
conditions = st.sampled_from([{}, {"mfa_required": True}, {"ip_ranges": ["127.0.0.0/8"]}, {"ip_ranges": ["10.0.0.0/8"]}])

# Filled by the test as it runs; reported by the root conftest's terminal summary.
RUN_COUNTS = {"examples": 0, "steps": 0, "accepted_calls": 0, "refused_calls": 0}


def _snapshot_member(organization: Organization, membership: Membership, policies) -> dict[bool, frozenset[str]]:
    if membership.status != Membership.Status.ACTIVE:
        return {False: frozenset(), True: frozenset()}
    subject = engine.member_subject(organization=organization, membership=membership, fresh=True)
    return {
        mfa: frozenset(engine.effective_permissions(subject=subject, policies=policies, facts=engine.Facts(mfa=mfa, ip=IP, now=clock.now())))
        for mfa in (False, True)
    }


class NoEscalation(RuleBasedStateMachine):
    roles = Bundle("roles")
    teams = Bundle("teams")
    policies = Bundle("policies")
    keys = Bundle("keys")

    def __init__(self):
        super().__init__()
        RUN_COUNTS["examples"] += 1
        cache.clear()
        # Every example starts from the same org, and everything it did is rolled back after it.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.org = OrganizationFactory()
        self.members = {name: MembershipFactory(organization=self.org, role=name if name in engine.BUILTIN_ROLES else "member") for name in HUMANS}
        self.clients = {name: client_for(m.user, self.org) for name, m in self.members.items()}
        self.mfa = dict.fromkeys(HUMANS, False)
        self.owner_mfa_client = client_for(self.members["owner"].user, self.org)
        self._session_mfa(self.owner_mfa_client, True)
        hr_role = self._ok(self.clients["owner"].post(self._path("roles"), {"name": "HR", "slug": "hr", "permissions": HR_PERMISSIONS}, format="json"))
        self._ok(self.clients["owner"].patch(self._path(f"members/{self.members['hr'].user_id}"), {"role": hr_role["slug"]}, format="json"))
        self.role_ids = {row["slug"]: row["id"] for row in self._ok(self.clients["owner"].get(self._path("roles"), {"limit": 100}))["data"]}
        self.joiner = UserFactory()
        self.joiner_client = client_for(self.joiner)
        self.joined = False
        # The other org, with something of each kind, which nobody here may ever see.
        self.other = OrganizationFactory()
        other_owner = MembershipFactory(organization=self.other, role="owner")
        other_client = client_for(other_owner.user, self.other)
        self.other_ids = {
            self._ok(other_client.post(f"/api/v1/orgs/{self.other.id}/teams", {"name": "Other team"}, format="json"))["id"],
            self._ok(other_client.post(f"/api/v1/orgs/{self.other.id}/roles", {"name": "Other role", "permissions": ["org:read"]}, format="json"))["id"],
            self._ok(
                other_client.post(f"/api/v1/orgs/{self.other.id}/policies", {"name": "Other", "effect": "deny", "permissions": ["org:update"]}, format="json")
            )["id"],
        }
        self.live_keys: dict[str, dict] = {}
        self.before = self._snapshot()

    def teardown(self):
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)
        cache.clear()

    # --- plumbing ---------------------------------------------------------------------------

    def _path(self, suffix: str) -> str:
        return f"/api/v1/orgs/{self.org.id}/{suffix}"

    @staticmethod
    def _ok(response) -> dict:
        assert response.status_code in (200, 201), response.content
        return response.json()

    @staticmethod
    def _session_mfa(client: APIClient, mfa: bool) -> None:
        session = UserSession.objects.get(id=UntypedToken(client.tokens["access_token"])["sid"])
        session.mfa_verified = mfa
        session.save(update_fields=["mfa_verified"])
        access, _ = issue_access(user=session.user, session=session)
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        cache.clear()  # the session state is cached with its MFA flag

    def _user_id(self, name: str):
        return self.joiner.id if name == "joiner" else self.members[name].user_id

    def _snapshot(self) -> dict[tuple[str, bool], frozenset[str]]:
        organization = Organization.objects.get(id=self.org.id)
        policies = engine.organization_policies(organization, fresh=True)
        snapshot = {}
        for membership in Membership.objects.filter(organization=organization):
            for mfa, codes in _snapshot_member(organization, membership, policies).items():
                snapshot[(str(membership.user_id), mfa)] = codes
        return snapshot

    def _effective(self, name: str) -> frozenset[str]:
        """What the actor effectively holds for the call it is about to make (its own MFA fact)."""
        if name == "owner":
            return authz.codes()  # the root of trust: may lift anything, deny policies included
        return self.before.get((str(self._user_id(name)), self.mfa.get(name, False)), frozenset())

    def _call(self, actor: str, method: str, suffix: str, body=None, client=None):
        """Make one call as `actor` and check invariant (a) against its result."""
        granter = self._effective(actor) if client is None else self._key_effective(actor)
        response = getattr(client or self.clients[actor], method)(self._path(suffix), body, format="json")
        assert response.status_code < 500, response.content
        accepted = response.status_code < 300
        RUN_COUNTS["accepted_calls" if accepted else "refused_calls"] += 1
        after = self._snapshot()
        for key, codes in after.items():
            grew = codes - self.before.get(key, frozenset())
            if not accepted:
                assert not grew, f"a refused {method.upper()} {suffix} by {actor} gave {key[0]} {sorted(grew)}"
            else:
                assert grew <= granter, f"{method.upper()} {suffix} by {actor} gave {key[0]} (mfa={key[1]}) {sorted(grew - granter)} it did not hold"
        self.before = after
        return response

    def _holdings(self, who: str) -> frozenset[str]:
        """Everything a member holds with either MFA fact (what acting on them must not exceed)."""
        user_id = str(self._user_id(who))
        return self.before.get((user_id, False), frozenset()) | self.before.get((user_id, True), frozenset())

    def _on_member(self, actor: str, who: str, method: str, body=None):
        """Demote, suspend or remove: accepted only when the actor holds all the target holds (no acting on betters)."""
        actor_can, target_has = self._effective(actor), self._holdings(who)
        row = lambda: Membership.objects.filter(organization_id=self.org.id, user_id=self._user_id(who)).values_list("role", "status").first()  # noqa: E731
        was = row()
        response = self._call(actor, method, f"members/{self._user_id(who)}", body)
        # A call that changed nothing (reactivating an active member) acted on nobody.
        if response.status_code < 300 and who != actor and row() != was:
            assert target_has <= actor_can, f"{actor} acted on the better {who}, who holds {sorted(target_has - actor_can)}"
        return response

    def _credential_check(self, actor_can: frozenset[str], key_name: str, what: str) -> None:
        """A secret handed to a caller never carries more than the caller could do itself."""
        beyond = self._key_effective(key_name) - actor_can
        assert not beyond, f"{what} handed a key acting with {sorted(beyond)} the caller did not hold"

    def _key_effective(self, key_name: str) -> frozenset[str]:
        key = ApiKey.objects.select_related("organization").get(id=self.live_keys[key_name]["id"])
        subject, policies = decision_inputs(OrgContext(organization=key.organization, membership=None, api_key=key))
        facts = engine.Facts(mfa=False, ip=IP, now=clock.now())
        return frozenset(code for code in authz.codes() if engine.decide(subject=subject, policies=policies, permission=code, facts=facts).allowed)

    # --- starting configurations (common set-ups an attacker finds in place) ---------------------

    @initialize(target=teams)
    def finance_team(self):
        """A team whose members the owner allowed to manage billing and delete the org."""
        team = self._ok(self.clients["owner"].post(self._path("teams"), {"name": "Finance"}, format="json"))["id"]
        body = {"name": "Finance powers", "effect": "allow", "permissions": ["billing:manage", "org:delete"], "subjects": {"teams": [team]}}
        self._ok(self.clients["owner"].post(self._path("policies"), body, format="json"))
        self.before = self._snapshot()
        return team

    @initialize(target=keys)
    def owner_key(self):
        """The owner's full-scope key: a prize for whoever can rotate it."""
        response = self._ok(self.clients["owner"].post(self._path("api-keys"), {"name": "owner key"}, format="json"))
        self.live_keys["owner-key"] = {"id": response["id"], "secret": response["secret"], "creator": "owner"}
        return "owner-key"

    @initialize(target=keys)
    def admin_key_manager(self):
        """An admin's key scoped only to api_keys:manage."""
        body = {"name": "key manager", "scopes": ["api_keys:manage"]}
        response = self._ok(self.clients["admin"].post(self._path("api-keys"), body, format="json"))
        self.live_keys["admin-key"] = {"id": response["id"], "secret": response["secret"], "creator": "admin"}
        return "admin-key"

    # --- rules: roles -------------------------------------------------------------------------

    @rule(target=roles, actor=ACTORS, permissions=perm_sets)
    def role_create(self, actor, permissions):
        response = self._call(actor, "post", "roles", {"name": f"Role {RUN_COUNTS['steps']}", "permissions": permissions})
        if response.status_code == 201:
            self.role_ids[response.json()["slug"]] = response.json()["id"]
            return response.json()["slug"]
        return "viewer"

    @rule(actor=ACTORS, slug=roles, permissions=perm_sets)
    def role_update(self, actor, slug, permissions):
        if slug in self.role_ids and slug not in engine.BUILTIN_ROLES:
            self._call(actor, "patch", f"roles/{self.role_ids[slug]}", {"permissions": permissions})

    @rule(actor=ACTORS, who=st.sampled_from(TARGETS), slug=st.one_of(roles, st.sampled_from(["admin", "member", "viewer", "hr"])))
    def role_assign(self, actor, who, slug):
        if slug in self.role_ids:
            self._call(actor, "post", "role-assignments", {"user_id": str(self._user_id(who)), "role_id": self.role_ids[slug]})

    @rule(actor=ACTORS, who=st.sampled_from(TARGETS), slug=st.one_of(roles, st.sampled_from(["admin", "member", "viewer", "hr"])))
    def member_role_change(self, actor, who, slug):
        self._on_member(actor, who, "patch", {"role": slug})

    @rule(actor=ACTORS, who=st.sampled_from(TARGETS), suspended=st.booleans())
    def member_status_change(self, actor, who, suspended):
        self._on_member(actor, who, "patch", {"status": "suspended" if suspended else "active"})

    @rule(actor=ACTORS, who=st.sampled_from(TARGETS))
    def member_remove(self, actor, who):
        self._on_member(actor, who, "delete")

    # --- rules: teams and invites ---------------------------------------------------------------

    @rule(target=teams, actor=ACTORS)
    def team_create(self, actor):
        response = self._call(actor, "post", "teams", {"name": f"Team {RUN_COUNTS['steps']}"})
        return response.json()["id"] if response.status_code == 201 else None

    @rule(actor=ACTORS, team=teams, who=st.sampled_from(TARGETS))
    def team_member_add(self, actor, team, who):
        if team:
            self._call(actor, "post", f"teams/{team}/members", {"user_id": str(self._user_id(who))})

    @rule(actor=ACTORS, team=teams, who=st.sampled_from(TARGETS))
    def team_member_remove(self, actor, team, who):
        if team:
            self._call(actor, "delete", f"teams/{team}/members/{self._user_id(who)}")

    @precondition(lambda self: not self.joined)
    @rule(actor=ACTORS, slug=st.sampled_from(["admin", "member", "viewer", "hr"]), team_ids=st.lists(teams, max_size=2, unique=True))
    def invite_and_join(self, actor, slug, team_ids):
        """Invite the outsider with a role and teams; their acceptance is the inviter's grant."""
        granter = self._effective(actor)
        body = {"email": self.joiner.email, "role": slug, "team_ids": [t for t in team_ids if t]}
        response = self._call(actor, "post", "invites", body)
        if response.status_code != 201:
            return
        accepted = self.joiner_client.post(f"/api/v1/invites/{response.json()['code']}/accept", {}, format="json")
        assert accepted.status_code < 500, accepted.content
        after = self._snapshot()
        for key, codes in after.items():
            grew = codes - self.before.get(key, frozenset())
            assert grew <= granter, f"invite by {actor} gave {key[0]} {sorted(grew - granter)} it did not hold"
        self.before = after
        self.joined = accepted.status_code == 200

    # --- rules: API keys ----------------------------------------------------------------------

    @rule(target=keys, actor=ACTORS, scopes=st.one_of(st.none(), perm_sets))
    def key_create(self, actor, scopes):
        body = {"name": f"key {RUN_COUNTS['steps']}"} | ({"scopes": scopes} if scopes is not None else {})
        response = self._call(actor, "post", "api-keys", body)
        if response.status_code != 201:
            return None
        name = f"key-{len(self.live_keys)}"
        self.live_keys[name] = {"id": response.json()["id"], "secret": response.json()["secret"], "creator": actor}
        self._credential_check(self._effective(actor), name, f"creating {name} by {actor}")
        return name

    def _key_client(self, name: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Api-Key {self.live_keys[name]['secret']}")
        return client

    @rule(actor=ACTORS, key=keys)
    def key_rotate(self, actor, key):
        if key in self.live_keys:
            actor_can = self._effective(actor)
            response = self._call(actor, "post", f"api-keys/{self.live_keys[key]['id']}/rotate")
            if response.status_code == 200:
                # The key now acts for whoever holds its new secret.
                self.live_keys[key].update(secret=response.json()["secret"], creator=actor)
                self._credential_check(actor_can, key, f"rotating {key} by {actor}")

    @rule(by=keys, key=keys)
    def key_rotate_by_key(self, by, key):
        """A key (scoped to api_keys:manage, say) rotating another key: bounded like its creator."""
        if by in self.live_keys and key in self.live_keys:
            by_can = self._key_effective(by)
            response = self._call(by, "post", f"api-keys/{self.live_keys[key]['id']}/rotate", client=self._key_client(by))
            if response.status_code == 200:
                # The key now acts for the member the rotating key acts for.
                self.live_keys[key].update(secret=response.json()["secret"], creator=self.live_keys[by]["creator"])
                self._credential_check(by_can, key, f"rotating {key} by {by}")

    @rule(actor=ACTORS, key=consumes(keys))
    def key_revoke(self, actor, key):
        if key in self.live_keys:
            response = self._call(actor, "delete", f"api-keys/{self.live_keys[key]['id']}")
            if response.status_code == 204:
                del self.live_keys[key]

    # --- rules: policies and facts ----------------------------------------------------------------

    @rule(
        target=policies,
        actor=ACTORS,
        effect=st.sampled_from(["allow", "deny"]),
        permissions=st.one_of(perm_sets, st.just(["*"])),
        subject=st.one_of(
            st.none(),
            st.sampled_from(TARGETS),
            st.sampled_from(["owner", "admin", "hr", "member", "viewer"]).map(lambda r: ("role", r)),
            teams.map(lambda t: ("team", t)),
        ),
        condition=conditions,
    )
    def policy_create(self, actor, effect, permissions, subject, condition):
        subjects = {}
        if isinstance(subject, tuple) and subject[0] == "role":
            subjects = {"roles": [subject[1]]}
        elif isinstance(subject, tuple) and subject[1]:
            subjects = {"teams": [subject[1]]}
        elif isinstance(subject, str):
            subjects = {"users": [str(self._user_id(subject))]}
        body = {"name": f"P {RUN_COUNTS['steps']}", "effect": effect, "permissions": permissions, "subjects": subjects, "conditions": condition}
        response = self._call(actor, "post", "policies", body)
        return response.json()["id"] if response.status_code == 201 else None

    @rule(actor=ACTORS, policy=policies, effect=st.sampled_from(["allow", "deny"]), permissions=perm_sets, condition=conditions)
    def policy_update(self, actor, policy, effect, permissions, condition):
        if policy and Policy.objects.filter(id=policy).exists():
            self._call(actor, "patch", f"policies/{policy}", {"effect": effect, "permissions": permissions, "conditions": condition})

    @rule(actor=ACTORS, policy=consumes(policies))
    def policy_delete(self, actor, policy):
        if policy and Policy.objects.filter(id=policy).exists():
            self._call(actor, "delete", f"policies/{policy}")

    @rule(actor=ACTORS, mfa=st.booleans())
    def mfa_toggle(self, actor, mfa):
        """The actor's session passes (or not) MFA: a fact, which must never change what anyone holds."""
        self._session_mfa(self.clients[actor], mfa)
        self.mfa[actor] = mfa
        after = self._snapshot()
        assert after == self.before, "a session's MFA fact changed someone's permission set"

    # --- invariants -----------------------------------------------------------------------------

    @invariant()
    def count_step(self):
        RUN_COUNTS["steps"] += 1

    @invariant()
    def exactly_one_owner_who_can_remove_every_policy(self):
        assert Membership.objects.filter(organization_id=self.org.id, role="owner").count() == 1
        for policy_id in Policy.objects.filter(organization_id=self.org.id).values_list("id", flat=True):
            with transaction.atomic():
                response = self.owner_mfa_client.delete(self._path(f"policies/{policy_id}"))
                transaction.set_rollback(True)
            cache.clear()  # the rolled-back revision bump must not leave cached answers behind
            assert response.status_code == 204, f"the owner cannot delete policy {policy_id}: {response.content}"

    @invariant()
    def no_key_beyond_its_creator(self):
        organization = Organization.objects.get(id=self.org.id)
        policies = engine.organization_policies(organization, fresh=True)
        for name, key in self.live_keys.items():
            creator = Membership.objects.filter(organization=organization, user_id=self._user_id(key["creator"])).first()
            creator_can = frozenset() if creator is None else _snapshot_member(organization, creator, policies)[False]
            api_key = ApiKey.objects.get(id=key["id"])
            key_can = self._key_effective(name)
            assert key_can <= creator_can, f"{name} of {key['creator']} acts beyond its creator: {sorted(key_can - creator_can)}"
            assert key_can <= frozenset(api_key.scopes), f"{name} acts beyond its scopes"
            # The views agree with that answer: a key that may not read members gets no member list.
            listed = self._key_client(name).get(self._path("members"))
            assert (listed.status_code == 200) == ("members:read" in key_can), (name, listed.status_code, sorted(key_can))

    @invariant()
    def nothing_of_the_other_org_is_visible(self):
        other = f"/api/v1/orgs/{self.other.id}/"
        for client in [*self.clients.values(), *(self._key_client(name) for name in self.live_keys)]:
            for suffix in ("members", "teams", "policies"):
                assert client.get(other + suffix).status_code in (401, 404)
        for suffix in ("teams", "roles", "policies"):
            listed = self.clients["owner"].get(self._path(suffix), {"limit": 100})
            if listed.status_code == 200:  # the owner may have denied themselves the read
                assert not {row["id"] for row in listed.json()["data"]} & self.other_ids


@pytest.mark.django_db
def test_no_escalation_property(record_property):
    """Drive the state machine; every counterexample is a way in hypothesis found."""
    run_state_machine_as_test(
        NoEscalation,
        settings=settings(
            max_examples=MAX_EXAMPLES,
            stateful_step_count=MAX_STEPS,
            deadline=None,
            derandomize=not os.environ.get("PROPERTY_RANDOM"),
            suppress_health_check=list(HealthCheck),
            database=None,
            # Shrinking a long API run costs minutes; PROPERTY_SHRINK=1 asks for the smallest counterexample.
            phases=list(Phase) if os.environ.get("PROPERTY_SHRINK") else [Phase.explicit, Phase.reuse, Phase.generate],
        ),
    )
    record_property("no_escalation", dict(RUN_COUNTS))
    assert RUN_COUNTS["steps"] > 0
