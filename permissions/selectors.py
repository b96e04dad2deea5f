"""Permission reads: roles, assignments, policies, and authorization answers for `check` and effective permissions."""

from dataclasses import dataclass, replace

from django.db.models import Case, Count, IntegerField, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.shortcuts import get_object_or_404

from core.roles import BUILTIN_ROLES
from organizations.context import OrgContext
from organizations.models import Membership, Organization
from permissions import catalog, engine
from permissions.drf import subject_of
from permissions.models import Policy, Role, RoleAssignment

# --- catalog, roles, assignments, policies -------------------------------------------------------


def permission_catalog() -> list[dict]:
    """Every declared permission as {code, resource, action, description}, sorted by code."""
    return [{"code": p.code, "resource": p.resource, "action": p.action, "description": p.description} for p in catalog.catalog()]


def _count_of(rows: QuerySet) -> Coalesce:
    """A correlated COUNT(*) of `rows` (filtered on the outer role), 0 when none."""
    counted = rows.order_by().values("organization_id").annotate(n=Count("id")).values("n")[:1]
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


def _base_holders() -> QuerySet[Membership]:
    return Membership.objects.filter(organization_id=OuterRef("organization_id"), role=OuterRef("slug"))


def _with_counts(roles: QuerySet[Role]) -> QuerySet[Role]:
    """Roles with `member_count`: members holding the role as base role or extra assignment, each once (one query for any number)."""
    assigned_users = RoleAssignment.objects.filter(role_id=OuterRef(OuterRef("pk"))).values("user_id")
    holders = Membership.objects.filter(organization_id=OuterRef("organization_id")).filter(Q(role=OuterRef("slug")) | Q(user_id__in=assigned_users))
    return roles.annotate(member_count=_count_of(holders))


def _role_rank() -> Case:
    return Case(
        *[When(slug=slug, is_builtin=True, then=Value(i)) for i, slug in enumerate(BUILTIN_ROLES)],
        default=Value(len(BUILTIN_ROLES)),
        output_field=IntegerField(),
    )


def role_list(*, organization: Organization) -> QuerySet[Role]:
    """The org's roles with their member counts: built-in ones first (owner → viewer), then custom ones by name."""
    return _with_counts(Role.objects.filter(organization=organization)).order_by(_role_rank(), "name", "id")


def role_get(*, organization: Organization, role_id) -> Role:
    """One role of the org with its member count (404 otherwise, whoever owns it)."""
    return get_object_or_404(_with_counts(Role.objects.all()), organization=organization, id=role_id)


def role_member_count(*, role: Role) -> int:
    """How many members hold a role (base or extra), for a role read without `_with_counts`."""
    counted = getattr(role, "member_count", None)
    if counted is None:
        counted = _with_counts(Role.objects.filter(id=role.id)).values_list("member_count", flat=True).first() or 0
    return counted


def role_usage_counts(*, organization: Organization) -> list[dict]:
    """Per role of the org: members holding it as base role and extra assignments of it (one query)."""
    rows = (
        Role.objects.filter(organization=organization)
        # Underscored: `assignments` is the reverse relation of RoleAssignment.role.
        .annotate(_members=_count_of(_base_holders()), _assignments=_count_of(RoleAssignment.objects.filter(role_id=OuterRef("pk"))))
        .order_by(_role_rank(), "name", "id")
        .values("id", "slug", "_members", "_assignments")
    )
    return [{"role_id": row["id"], "slug": row["slug"], "members": row["_members"], "assignments": row["_assignments"]} for row in rows]


def member_roles(*, organization: Organization, user_id) -> list[dict]:
    """A member's roles: their base role, then extra roles by assignment date (404 for someone not a member)."""
    membership = get_object_or_404(Membership.objects.only("role"), organization=organization, user_id=user_id)
    base = Role.objects.filter(organization=organization, slug=membership.role).values("id", "slug", "name").first()
    roles = [{**base, "source": "base"}] if base else []
    extra = (
        RoleAssignment.objects.filter(organization=organization, user_id=user_id).order_by("created_at", "id").values("role__id", "role__slug", "role__name")
    )
    roles += [{"id": row["role__id"], "slug": row["role__slug"], "name": row["role__name"], "source": "assignment"} for row in extra]
    return roles


def role_assignment_list(*, organization: Organization, user_id=None) -> QuerySet[RoleAssignment]:
    """Extra role assignments of the org, optionally of one user, with role and user loaded."""
    qs = RoleAssignment.objects.select_related("role", "user").filter(organization=organization)
    if user_id is not None:
        qs = qs.filter(user_id=user_id)
    return qs.order_by("created_at", "id")


def role_assignment_get(*, organization: Organization, assignment_id) -> RoleAssignment:
    """One assignment of the org (404 otherwise)."""
    return get_object_or_404(RoleAssignment, organization=organization, id=assignment_id)


def role_assignment_find(*, organization: Organization, user_id, role_id) -> RoleAssignment:
    """The assignment of `role_id` to `user_id` in the org (404 otherwise)."""
    return get_object_or_404(RoleAssignment, organization=organization, user_id=user_id, role_id=role_id)


def policy_list(*, organization: Organization) -> QuerySet[Policy]:
    """The org's policies, oldest first."""
    return Policy.objects.filter(organization=organization).order_by("created_at", "id")


def policy_get(*, organization: Organization, policy_id) -> Policy:
    """One policy of the org (404 otherwise)."""
    return get_object_or_404(Policy, organization=organization, id=policy_id)


# --- authorization answers --------------------------------------------------------------------


@dataclass(frozen=True)
class Evaluation:
    """Everything `engine.decide` needs about one subject in one org, and the revision it reflects."""

    subject: engine.Subject | None  # None: a suspended member, who may do nothing
    policies: list
    facts: engine.Facts
    revision: int
    base_role: str | None = None


def evaluation_prepare(
    *, context: OrgContext, facts: engine.Facts, user_id=None, at_least_revision: int | None = None, inputs: tuple[engine.Subject, list] | None = None
) -> Evaluation:
    """Gather the inputs of a decision for the caller, or for another member of the org (404 if none).

    Another member is judged with their own roles and this request's facts, except MFA,
    which is treated as not met (we cannot know their session). A client naming a newer
    revision than this request's is answered fresh: revision re-read, caches bypassed.
    `inputs`: the caller's subject and the org's policies as this request already read them
    (`permissions.drf.request_decision_inputs`), used unless the answer must be fresh.
    """
    organization = context.organization
    fresh = at_least_revision is not None and at_least_revision > organization.authz_revision
    if fresh:
        organization.refresh_from_db(fields=["authz_revision"])
    policies_stale = fresh
    if user_id is None or (context.user_id is not None and str(user_id) == str(context.user_id)):
        if inputs is not None and not fresh:
            subject, policies = inputs
            base_role = context.membership.role if context.membership else None
            return Evaluation(subject=subject, policies=policies, facts=facts, revision=organization.authz_revision, base_role=base_role)
        subject = subject_of(context, fresh=fresh)
        base_role = context.membership.role if context.membership else None
        policies_stale = fresh and context.membership is None
    else:
        membership = get_object_or_404(Membership, organization=organization, user_id=user_id)
        base_role = membership.role
        facts = replace(facts, mfa=False)
        subject = None
        if membership.status == Membership.Status.ACTIVE:
            subject = engine.member_subject(organization=organization, membership=membership, fresh=fresh)
            policies_stale = False
    # member_subject(fresh=True) has just re-read and re-cached the policies: no need to twice.
    policies = engine.organization_policies(organization, fresh=policies_stale)
    return Evaluation(subject=subject, policies=policies, facts=facts, revision=organization.authz_revision, base_role=base_role)


def decision(*, evaluation: Evaluation, permission: str) -> engine.Decision:
    """The engine's answer for one permission (the same `engine.decide` views are judged by)."""
    if permission == engine.MEMBERSHIP or not catalog.is_declared(permission):
        return engine.Decision(False, f"unknown permission {permission}")
    if evaluation.subject is None:
        return engine.Decision(False, "the membership is suspended")
    return engine.decide(subject=evaluation.subject, policies=evaluation.policies, permission=permission, facts=evaluation.facts)


def decisions(*, evaluation: Evaluation, permissions) -> dict[str, bool]:
    """Allowed or not, per permission."""
    return {permission: decision(evaluation=evaluation, permission=permission).allowed for permission in permissions}


def effective_permissions(*, evaluation: Evaluation) -> dict:
    """Permissions the subject holds right now (roles ∪ assignments ∪ policy allows, minus denies), its roles and the revision."""
    if evaluation.subject is None:
        codes: list[str] = []
        roles = [evaluation.base_role] if evaluation.base_role else []
    else:
        codes = engine.effective_permissions(subject=evaluation.subject, policies=evaluation.policies, facts=evaluation.facts)
        roles = sorted(evaluation.subject.roles)
    return {"data": codes, "roles": roles, "revision": evaluation.revision}
