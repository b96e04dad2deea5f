"""Create or update each paid plan's Stripe Product and monthly/yearly Prices."""

from django.core.management.base import BaseCommand, CommandError

from billing.services.plans import plans_sync_stripe
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Create/update the Stripe Products and Prices of the paid plans and store their ids on the plans."

    def handle(self, *args, **options):
        try:
            synced = plans_sync_stripe()
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        for code, ids in synced.items():
            self.stdout.write(f"{code}: product {ids['product']}, month {ids['month']}, year {ids['year']}")
