"""`manage.py healthcheck [--only broker,...]`: the readiness checks, for containers without HTTP."""

import json

from django.core.management.base import BaseCommand, CommandError

from core.views import CHECKS, readiness


class Command(BaseCommand):
    help = "Check the database, cache and broker; exit non-zero naming what failed."

    def add_arguments(self, parser):
        parser.add_argument(
            "--only",
            default="",
            help=f"Comma-separated subset of: {', '.join(CHECKS)} (default: all).",
        )

    def handle(self, *args, only: str, **options):
        names = [name.strip() for name in only.split(",") if name.strip()] or None
        unknown = sorted(set(names or []) - set(CHECKS))
        if unknown:
            raise CommandError(f"Unknown check(s): {', '.join(unknown)}.")
        checks = readiness(names)
        self.stdout.write(json.dumps(checks))
        failing = [name for name, result in checks.items() if result == "error"]
        if failing:
            raise CommandError(f"Not ready: {', '.join(failing)}.")
