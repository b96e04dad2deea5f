"""The provider catalog: what each third-party service needs to connect, refresh and revoke.

Adding a provider is one `Provider(...)` entry in `CATALOG`. Client ids and secrets come from
settings (`INTEGRATIONS_<CLIENT>_CLIENT_ID` / `_CLIENT_SECRET`); endpoint URLs may be overridden
per provider with the `INTEGRATIONS_PROVIDER_OVERRIDES` setting (a self-hosted GitHub, a test fake).
"""

from dataclasses import dataclass, replace
from enum import StrEnum

from django.conf import settings


class AuthType(StrEnum):
    OAUTH = "oauth"
    API_KEY = "api_key"


class RevokeStyle(StrEnum):
    """How a provider takes a token back (None: it has no revocation endpoint)."""

    RFC7009 = "rfc7009"  # POST token=<token> (Google)
    BEARER_POST = "bearer_post"  # POST with Authorization: Bearer <token> (Slack auth.revoke)
    GITHUB_GRANT = "github_grant"  # DELETE /applications/{client_id}/grant, basic auth, JSON body


@dataclass(frozen=True)
class Provider:
    key: str
    name: str
    auth_types: tuple[AuthType, ...]
    scopes: tuple[str, ...] = ()
    authorize_url: str = ""
    token_url: str = ""
    revoke_url: str = ""
    revoke_style: RevokeStyle | None = None
    client: str = ""  # settings prefix of the OAuth client: INTEGRATIONS_<CLIENT>_CLIENT_ID
    pkce: bool = False
    scope_separator: str = " "
    authorize_params: tuple[tuple[str, str], ...] = ()
    # Who or which workspace a token acts for: the field `account_field` of the answer to a
    # bearer request to `userinfo_url` (shown with the integration; "" when the provider has none).
    userinfo_url: str = ""
    userinfo_method: str = "GET"
    account_field: str = ""

    @property
    def auth_type(self) -> AuthType:
        """The provider's primary way to connect (what the catalog shows)."""
        return self.auth_types[0]

    @property
    def supports_oauth(self) -> bool:
        return AuthType.OAUTH in self.auth_types and bool(self.authorize_url and self.token_url)

    @property
    def client_id(self) -> str:
        return getattr(settings, f"INTEGRATIONS_{self.client}_CLIENT_ID", "") if self.client else ""

    @property
    def client_secret(self) -> str:
        return getattr(settings, f"INTEGRATIONS_{self.client}_CLIENT_SECRET", "") if self.client else ""

    @property
    def oauth_configured(self) -> bool:
        return self.supports_oauth and bool(self.client_id and self.client_secret)


_GOOGLE = {
    "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_url": "https://oauth2.googleapis.com/token",
    "revoke_url": "https://oauth2.googleapis.com/revoke",
    "revoke_style": RevokeStyle.RFC7009,
    "client": "GOOGLE",
    "pkce": True,
    "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
    "account_field": "email",
    # offline + consent: Google only hands out a refresh token when asked this way.
    "authorize_params": (("access_type", "offline"), ("prompt", "consent")),
}

CATALOG: dict[str, Provider] = {
    provider.key: provider
    for provider in (
        Provider(
            key="gmail",
            name="Gmail",
            auth_types=(AuthType.OAUTH,),
            # `email`: the account's address, which the integration shows as who connected it.
            scopes=("email", "https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.send"),
            **_GOOGLE,
        ),
        Provider(
            key="google_drive",
            name="Google Drive",
            auth_types=(AuthType.OAUTH,),
            scopes=("email", "https://www.googleapis.com/auth/drive.file"),
            **_GOOGLE,
        ),
        Provider(
            key="slack",
            name="Slack",
            auth_types=(AuthType.OAUTH,),
            scopes=("chat:write", "channels:read"),
            authorize_url="https://slack.com/oauth/v2/authorize",
            token_url="https://slack.com/api/oauth.v2.access",
            revoke_url="https://slack.com/api/auth.revoke",
            revoke_style=RevokeStyle.BEARER_POST,
            client="SLACK",
            scope_separator=",",
            # auth.test names the workspace the bot token belongs to.
            userinfo_url="https://slack.com/api/auth.test",
            userinfo_method="POST",
            account_field="team",
        ),
        Provider(
            key="github",
            name="GitHub",
            # A GitHub App user token (OAuth) or a fine-grained personal access token (api_key).
            auth_types=(AuthType.OAUTH, AuthType.API_KEY),
            scopes=("repo", "read:org"),
            authorize_url="https://github.com/login/oauth/authorize",
            token_url="https://github.com/login/oauth/access_token",
            revoke_url="https://api.github.com/applications/{client_id}/grant",
            revoke_style=RevokeStyle.GITHUB_GRANT,
            client="GITHUB",
            pkce=True,
            userinfo_url="https://api.github.com/user",
            account_field="login",
        ),
        Provider(key="sendgrid", name="SendGrid", auth_types=(AuthType.API_KEY,)),
        Provider(key="openai", name="OpenAI", auth_types=(AuthType.API_KEY,)),
    )
}

_OVERRIDABLE = {"authorize_url", "token_url", "revoke_url", "userinfo_url"}


def provider_get(key: str) -> Provider | None:
    """The provider of that key, with any endpoint overrides from settings applied."""
    provider = CATALOG.get(key)
    if provider is None:
        return None
    overrides = (getattr(settings, "INTEGRATIONS_PROVIDER_OVERRIDES", None) or {}).get(key) or {}
    return replace(provider, **{name: value for name, value in overrides.items() if name in _OVERRIDABLE})


def provider_list() -> list[Provider]:
    """Every provider, in catalog order."""
    return [provider_get(key) for key in CATALOG]
