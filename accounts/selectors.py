"""Account reads."""

from django.db.models import CharField, QuerySet, Value

from accounts.models import User, UserSession
from core import hooks
from core.sql import CompiledQuery


def _sign_in_methods_query(user: User):
    from allauth.socialaccount.models import SocialAccount

    from accounts.mfa import confirmed_factors

    def marked(queryset, kind: str, column):
        return queryset.values_list(Value(kind, output_field=CharField()), column)

    providers = marked(SocialAccount.objects.filter(user=user), "provider", "provider")
    factors = [marked(queryset, "factor", Value("", output_field=CharField())) for queryset in confirmed_factors(user=user)]
    return providers.union(*factors, all=True)


# Compiled once per process: building and compiling this UNION cost 4x running it (core/sql.py).
_SIGN_IN_METHODS = CompiledQuery(User, _sign_in_methods_query)


def user_sign_in_methods(*, user: User) -> tuple[bool, list[str]]:
    """(mfa_enabled, linked providers) in one query, as `users/me` shows them (issue 17)."""
    rows = _SIGN_IN_METHODS.rows(user)
    return any(kind == "factor" for kind, _ in rows), sorted({name for kind, name in rows if kind == "provider"})


def session_list(*, user: User) -> QuerySet[UserSession]:
    """The user's live sessions, newest first."""
    return UserSession.objects.for_user(user).active().order_by("-created_at")


def user_organization_context(*, user: User, organization_id) -> dict:
    """Return {active_organization, role, needs_org_setup} for `users/me`."""
    summary = None
    if organization_id:
        summary = hooks.organization_summary(user=user, organization_id=organization_id)
    if summary is None:
        default_id = hooks.default_organization(user=user)
        if default_id:
            summary = hooks.organization_summary(user=user, organization_id=default_id)
    return {
        "active_organization": summary,
        "role": summary.get("role") if summary else None,
        "needs_org_setup": summary is None,
    }


def user_export(*, user: User) -> dict:
    """Everything held about a user, for a GDPR data export."""
    from allauth.socialaccount.models import SocialAccount

    from accounts.mfa import mfa_status
    from audit.models import AuditEvent

    sessions = UserSession.objects.for_user(user).order_by("-created_at")
    events = AuditEvent.objects.filter(actor_id=user.id).order_by("-created_at")
    data = {
        "profile": {
            "id": str(user.id),
            "email": user.email,
            "full_name": user.full_name,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "avatar_url": user.avatar_url,
            "phone": user.phone,
            "email_verified_at": user.email_verified_at,
            "date_joined": user.date_joined,
            "last_login": user.last_login,
            "has_password": user.has_usable_password(),
        },
        "mfa": mfa_status(user=user),
        "linked_accounts": [
            {"provider": account.provider, "uid": account.uid, "date_joined": account.date_joined} for account in SocialAccount.objects.filter(user=user)
        ],
        "sessions": [
            {
                "id": str(s.id),
                "created_at": s.created_at,
                "last_used_at": s.last_used_at,
                "ip": s.ip,
                "user_agent": s.user_agent,
                "revoked_at": s.revoked_at,
                "revoked_reason": s.revoked_reason,
            }
            for s in sessions
        ],
        "audit_events": [
            {
                "id": str(e.id),
                "action": e.action,
                "organization_id": str(e.organization_id) if e.organization_id else None,
                "target": {"type": e.target_type, "id": e.target_id},
                "changes": e.changes,
                "ip": e.ip,
                "user_agent": e.user_agent,
                "created_at": e.created_at,
            }
            for e in events
        ],
        "memberships": [],
    }
    for section in hooks.user_export(user=user):
        data.update(section)
    return data
