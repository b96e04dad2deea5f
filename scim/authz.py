"""What a SCIM call may do: a token acts with its creator's effective permissions in the org, never more.

The IdP is a machine acting for whoever issued its token, so API.md v1.1 invariants 1 and 2 are
checked against that member: no role, team or member change the creator could not make through
the REST API themselves (with no MFA, from the IdP's address, now). The owner is never provisioned
by SCIM at all (scim.services).
"""

from collections.abc import Iterable
from dataclasses import dataclass, field

from core import clock
from core.errors import ErrorCode
from core.exceptions import ApplicationError
from organizations.models import Membership, Organization
from permissions import catalog, engine
from permissions.drf import member_holdings
from scim.models import ScimToken
from scim.tokens import token_creator_membership


def _refused(message: str) -> ApplicationError:
    return ApplicationError(code=ErrorCode.INSUFFICIENT_PERMISSIONS, message=message, status_code=403)


@dataclass
class ScimAuthority:
    """The creator's effective permissions for one SCIM request, worked out once."""

    organization: Organization
    creator: Membership | None
    held: frozenset[str] = field(default_factory=frozenset)

    @classmethod
    def of(cls, *, token: ScimToken, ip: str | None) -> "ScimAuthority":
        organization = token.organization
        creator = token_creator_membership(token=token)
        if creator is None:
            return cls(organization=organization, creator=None)
        subject, policies = engine.member_inputs(organization=organization, membership=creator)
        # A machine call: no MFA, whatever the creator's own session had.
        facts = engine.Facts(mfa=False, ip=ip, now=clock.now())
        return cls(organization=organization, creator=creator, held=frozenset(engine.effective_permissions(subject=subject, policies=policies, facts=facts)))

    def require(self, *permissions: str) -> None:
        """Refuse (403) unless the token's creator holds each permission now."""
        if self.creator is None:
            raise _refused("This SCIM token's creator is no longer an active member: issue a new token.")
        missing = sorted(set(permissions) - self.held)
        if missing:
            raise _refused(f"This SCIM token's creator does not hold: {', '.join(missing)}.")

    def ensure_role_grantable(self, slug: str) -> None:
        """No escalation: the role (and the allow policies naming it) grants nothing the creator lacks."""
        self.require(*engine.role_stakes(organization=self.organization, slug=slug).grants)

    def ensure_not_better(self, target: Membership) -> None:
        """Not on a better: the creator holds everything the member can hold (themselves excepted)."""
        self.ensure_not_better_than([target])

    def ensure_not_better_than(self, targets: Iterable[Membership]) -> None:
        beyond: set[str] = set()
        everything = catalog.codes()
        for target in sorted(targets, key=lambda membership: membership.role != "owner"):
            if self.creator is not None and target.user_id == self.creator.user_id:
                continue
            beyond |= member_holdings(organization=self.organization, membership=target)
            if beyond >= everything:
                break
        if beyond:
            self.require(*beyond)

    def ensure_team_joinable(self, team_id, target: Membership) -> None:
        """Joining a team hands out its allow policies; under its denies, the member is acted on."""
        stakes = engine.team_stakes(organization=self.organization, team_ids=[team_id])
        self.require(*stakes.grants)
        if stakes.denies:
            self.ensure_not_better(target)

    def ensure_team_leavable(self, team_id, targets: Iterable[Membership]) -> None:
        """Leaving lifts the team's denies and drops its allows: as deleting those policies would."""
        stakes = engine.team_stakes(organization=self.organization, team_ids=[team_id])
        if not (stakes.grants or stakes.denies):
            return
        self.require(*(stakes.grants | stakes.denies))
        self.ensure_not_better_than(targets)
