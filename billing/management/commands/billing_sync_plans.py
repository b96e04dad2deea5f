"""Create or update each paid plan's and add-on's Stripe Product and monthly/yearly Prices."""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from billing import gateway_razorpay
from billing.services.plans import addons_sync_stripe, plans_sync_stripe
from billing.services.razorpay import plans_sync_razorpay
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Create/update the Stripe Products and Prices of the paid plans and add-ons and store their ids on them."

    def handle(self, *args, **options):
        # A Razorpay-only deployment skips Stripe; with neither configured, Stripe's error is reported.
        stripe_wanted = bool(settings.STRIPE_SECRET_KEY) or not gateway_razorpay.configured()
        try:
            synced = plans_sync_stripe() if stripe_wanted else {}
            synced_add_ons = addons_sync_stripe() if stripe_wanted else {}
            synced_razorpay = plans_sync_razorpay()
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        for code, ids in synced_razorpay.items():
            self.stdout.write(f"{code}: razorpay plans month {ids['month']}, year {ids['year']}")
        for code, ids in synced.items():
            self.stdout.write(f"{code}: product {ids['product']}, month {ids['month']}, year {ids['year']}")
        for code, ids in synced_add_ons.items():
            self.stdout.write(f"add-on {code}: product {ids['product']}, month {ids['month']}, year {ids['year']}")
