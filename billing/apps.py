from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _seed_missing_plans(sender, using="default", **kwargs) -> None:
    """After every migrate (and test-database flush), create catalog plans that are missing."""
    from django.db import transaction

    from billing.models import Plan
    from billing.services.plans import plans_seed

    if not Plan.objects.using(using).exists():
        with transaction.atomic(using=using):
            plans_seed()


class BillingConfig(AppConfig):
    name = "billing"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from billing import hooks, permissions  # noqa: F401  (declares the app's permissions)

        hooks.register()
        # Cached token claims follow the org's subscription row (billing.hooks.plan_claims).
        from django.db.models.signals import post_delete, post_save

        from billing.models import Subscription, SubscriptionAddOn

        post_save.connect(hooks.plan_claims_forget, sender=Subscription, dispatch_uid="billing-plan-claims-save")
        post_delete.connect(hooks.plan_claims_forget, sender=Subscription, dispatch_uid="billing-plan-claims-delete")
        # Add-ons' feature flags are part of the claims too.
        post_save.connect(hooks.plan_claims_forget, sender=SubscriptionAddOn, dispatch_uid="billing-plan-claims-addon-save")
        post_delete.connect(hooks.plan_claims_forget, sender=SubscriptionAddOn, dispatch_uid="billing-plan-claims-addon-delete")
        # Plans are data every request needs; a flushed or brand-new database gets them back.
        post_migrate.connect(_seed_missing_plans, sender=self, dispatch_uid="billing-seed-plans")
