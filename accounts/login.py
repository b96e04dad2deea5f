"""Password sign-in: the credentials (with django-axes lockout), then an MFA challenge or the session.

An org enforcing SSO for the account's address (the `sso` app answers the `sso_required` hook of
`accounts.sessions`) refuses the password with 403 SSO_REQUIRED, once the password has matched.

Above both `services` and `mfa`: it asks `mfa` whether a second factor is needed.
"""

from django.conf import settings
from django.contrib.auth import authenticate
from rest_framework import status

from accounts import mfa
from accounts.models import User
from accounts.sessions import OrgSelection, login_finish, organization_for_login, sso_required, sso_required_error
from accounts.tokens import TokenPair
from audit.services import event_record
from core import hooks
from core.actor import Actor, actor_of
from core.errors import ErrorCode
from core.exceptions import ApplicationError

INVALID_CREDENTIALS = "Invalid email or password."


def _lockout_error() -> ApplicationError:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return ApplicationError(
        code=ErrorCode.RATE_LIMIT_EXCEEDED,
        message=f"Too many failed sign-in attempts. Try again in {minutes} minutes.",
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        headers={"Retry-After": str(int(settings.AXES_COOLOFF_TIME.total_seconds()))},
    )


def credentials_check(*, request, email: str, password: str) -> User:
    """Check email + password through Django's authenticate (with django-axes lockout).

    The error is the same for an unknown email and a wrong password; a locked-out
    account or IP gets 429.
    """
    email = User.objects.normalize_email(email)
    django_request = getattr(request, "_request", request)
    user = authenticate(django_request, email=email, password=password)
    if getattr(django_request, "axes_locked_out", False):
        raise _lockout_error()
    if user is None:
        _login_failed_record(email=email, actor=actor_of(request))
        if getattr(django_request, "axes_locked_out", False):
            raise _lockout_error()
        raise ApplicationError(code=ErrorCode.AUTHENTICATION_FAILED, message=INVALID_CREDENTIALS, status_code=401)
    return user


def _login_failed_record(*, email: str, actor: Actor) -> None:
    user = User.objects.filter(email=email).first()
    if user is None:
        return  # no org to record it under, and nothing to reveal
    # The login view runs outside a request transaction, so this survives the 401.
    event_record(
        action="user.login_failed",
        actor=actor.as_user(user),
        organization_id=hooks.default_organization(user=user),
        target=user,
    )


def user_login(*, request, email: str, password: str, organization_id=None, org_selection: bool = False) -> TokenPair | OrgSelection | str:
    """Sign in with a password: a token pair, or an MFA challenge secret when MFA is on.

    With `org_selection` (and no `organization_id`), a user active in two or more orgs gets an
    org selection instead of tokens, after the MFA challenge when MFA is on.
    """
    user = credentials_check(request=request, email=email, password=password)
    if sso_required(user=user):
        # Only after the password matched: a wrong password keeps the one answer for every address.
        raise sso_required_error()
    if organization_id is not None:
        # Checked before an MFA challenge is spent on a login that would fail anyway.
        organization_id = organization_for_login(user=user, organization_id=organization_id)
    if mfa.mfa_enabled(user=user):
        return mfa.challenge_issue(user=user, organization_id=organization_id, org_selection=org_selection)
    return login_finish(user=user, actor=actor_of(request), organization_id=organization_id, mfa_verified=False, org_selection=org_selection)
