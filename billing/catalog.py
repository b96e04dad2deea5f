"""The names billing knows: limits, feature flags, usage keys, and the default plans and add-ons.

Plans and add-ons are data (billing.Plan / billing.AddOn rows, editable in the admin);
`DEFAULT_PLANS` and `DEFAULT_ADD_ONS` are what `manage.py billing_seed_plans` creates when one
is missing.
"""

from enum import StrEnum

FREE = "free"

# Limits a plan sets (None = unlimited).
LIMITS = (
    "max_members",
    "max_api_keys",
    "max_integrations",
    "audit_retention_days",
    "storage_mb",
    "ai_requests_per_month",
)
# Feature flags a plan turns on or off.
FEATURES = ("custom_slug", "sso", "advanced_analytics", "white_label")

# `usage` / `usage/check-limit` key -> the limit it is measured against.
USAGE_LIMITS = {
    "members": "max_members",
    "api_keys": "max_api_keys",
    "integrations": "max_integrations",
    "storage_mb": "storage_mb",
    "ai_requests": "ai_requests_per_month",
}


class Metric(StrEnum):
    """Metered things counted per calendar month (billing.UsageCounter)."""

    AI_REQUESTS = "ai_requests"


class Interval(StrEnum):
    MONTH = "month"
    YEAR = "year"


DEFAULT_PLANS = [
    {
        "code": "free",
        "name": "Free",
        "description": "For trying things out with a small team.",
        "sort_order": 0,
        "currency": "usd",
        "price_month": 0,
        "price_year": 0,
        "per_seat": False,
        "limits": {
            "max_members": 5,
            "max_api_keys": 5,
            "max_integrations": 2,
            "audit_retention_days": 30,
            "storage_mb": 500,
            "ai_requests_per_month": 100,
        },
        "features": {"custom_slug": False, "sso": False, "advanced_analytics": False, "white_label": False},
    },
    {
        "code": "pro",
        "name": "Pro",
        "description": "For growing teams that need more room and their own address.",
        "sort_order": 1,
        "currency": "usd",
        "price_month": 2900,
        "price_year": 29000,
        "per_seat": False,
        "limits": {
            "max_members": 25,
            "max_api_keys": 25,
            "max_integrations": 10,
            "audit_retention_days": 180,
            "storage_mb": 20_480,
            "ai_requests_per_month": 5_000,
        },
        "features": {"custom_slug": True, "sso": False, "advanced_analytics": True, "white_label": False},
    },
    {
        "code": "team",
        "name": "Team",
        "description": "Per-seat pricing, unlimited members, SSO and white label.",
        "sort_order": 2,
        "currency": "usd",
        "price_month": 1500,
        "price_year": 15000,
        "per_seat": True,
        "limits": {
            "max_members": None,
            "max_api_keys": 100,
            "max_integrations": None,
            "audit_retention_days": 365,
            "storage_mb": 102_400,
            "ai_requests_per_month": 50_000,
        },
        "features": {"custom_slug": True, "sso": True, "advanced_analytics": True, "white_label": True},
    },
]


# Add-ons bought on top of a paid plan. `limits` are added per unit bought (a plan's unlimited
# stays unlimited); `features` are turned on.
DEFAULT_ADD_ONS = [
    {
        "code": "extra_seats",
        "name": "Extra seats",
        "description": "Ten more members per unit.",
        "sort_order": 0,
        "currency": "usd",
        "price_month": 1000,
        "price_year": 10000,
        "limits": {"max_members": 10},
        "features": {},
    },
    {
        "code": "extra_storage",
        "name": "Extra storage",
        "description": "10 GB more document storage per unit.",
        "sort_order": 1,
        "currency": "usd",
        "price_month": 500,
        "price_year": 5000,
        "limits": {"storage_mb": 10_240},
        "features": {},
    },
    {
        "code": "white_label",
        "name": "White label",
        "description": "Your brand on the app and on the e-mails it sends.",
        "sort_order": 2,
        "currency": "usd",
        "price_month": 1900,
        "price_year": 19000,
        "limits": {},
        "features": {"white_label": True},
    },
]
