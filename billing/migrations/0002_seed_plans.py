"""Seed the free, pro and team plans (a frozen copy of billing.catalog.DEFAULT_PLANS at this point).

Existing rows are left alone; `manage.py billing_seed_plans` does the same from the live catalog.
"""
from django.db import migrations

PLANS = [
    {
        "code": "free", "name": "Free", "description": "For trying things out with a small team.",
        "sort_order": 0, "currency": "usd", "price_month": 0, "price_year": 0, "per_seat": False,
        "max_members": 5, "max_api_keys": 5, "max_integrations": 2, "audit_retention_days": 30,
        "storage_mb": 500, "ai_requests_per_month": 100,
        "custom_slug": False, "sso": False, "advanced_analytics": False, "white_label": False,
    },
    {
        "code": "pro", "name": "Pro", "description": "For growing teams that need more room and their own address.",
        "sort_order": 1, "currency": "usd", "price_month": 2900, "price_year": 29000, "per_seat": False,
        "max_members": 25, "max_api_keys": 25, "max_integrations": 10, "audit_retention_days": 180,
        "storage_mb": 20480, "ai_requests_per_month": 5000,
        "custom_slug": True, "sso": False, "advanced_analytics": True, "white_label": False,
    },
    {
        "code": "team", "name": "Team", "description": "Per-seat pricing, unlimited members, SSO and white label.",
        "sort_order": 2, "currency": "usd", "price_month": 1500, "price_year": 15000, "per_seat": True,
        "max_members": None, "max_api_keys": 100, "max_integrations": None, "audit_retention_days": 365,
        "storage_mb": 102400, "ai_requests_per_month": 50000,
        "custom_slug": True, "sso": True, "advanced_analytics": True, "white_label": True,
    },
]


def seed(apps, schema_editor):
    Plan = apps.get_model("billing", "Plan")
    for fields in PLANS:
        Plan.objects.get_or_create(code=fields["code"], defaults={k: v for k, v in fields.items() if k != "code"})


class Migration(migrations.Migration):
    dependencies = [("billing", "0001_initial")]

    operations = [migrations.RunPython(seed, migrations.RunPython.noop)]
