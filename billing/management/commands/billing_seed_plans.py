"""Create the catalog's plans that are missing (idempotent; `make run` calls it)."""

from django.core.management.base import BaseCommand

from billing.services.plans import plans_seed


class Command(BaseCommand):
    help = "Create the free, pro and team plans when missing (--reset puts existing ones back to the defaults)."

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="Overwrite edited plans with the catalog's defaults.")

    def handle(self, *args, reset=False, **options):
        for code, action in plans_seed(reset=reset):
            self.stdout.write(f"{code}: {action}")
