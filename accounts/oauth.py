"""django-allauth adapters (Google sign-in for API clients)."""
from allauth.account.adapter import DefaultAccountAdapter
from allauth.socialaccount.adapter import DefaultSocialAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    """Account adapter for allauth."""


class SocialAccountAdapter(DefaultSocialAccountAdapter):
    """Social account adapter for allauth."""
