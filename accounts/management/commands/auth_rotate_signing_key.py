"""Rotate the JWT signing key: a new current key signs; the old one verifies until its tokens expire."""

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from accounts import signing_keys
from accounts.models import SigningKey
from core.actor import Actor


class Command(BaseCommand):
    help = (
        "Add a new current JWT signing key (JWT_ALGORITHM, or --algorithm) and demote the current one to "
        "previous: it keeps verifying until every token it signed has expired (refresh tokens too). "
        "Previous keys past that are retired. --retire-only just retires expired keys (run it daily); "
        "--retire KID retires a previous key at once (a leaked key: its tokens stop working)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--algorithm", choices=signing_keys.ASYMMETRIC_ALGORITHMS, help="Algorithm of the new key (default: JWT_ALGORITHM).")
        parser.add_argument("--retire-only", action="store_true", help="Make no new key; retire previous keys past their last token.")
        parser.add_argument("--retire", metavar="KID", action="append", help="Retire this previous key now (repeatable).")

    def handle(self, *args, algorithm=None, retire_only=False, retire=None, **options):
        if signing_keys.is_shared_secret_mode():
            raise CommandError("JWT_ALGORITHM=HS256: tokens are signed with JWT_SIGNING_KEY; rotate by changing that secret.")
        actor = Actor.system()
        try:
            if retire:
                unknown = set(retire) - set(SigningKey.objects.filter(kid__in=retire, state=SigningKey.State.PREVIOUS).values_list("kid", flat=True))
                if unknown:
                    raise CommandError(f"Not a previous key (only previous keys can be retired): {', '.join(sorted(unknown))}")
                retired = signing_keys.signing_keys_retire(actor=actor, kids=retire)
            elif retire_only:
                retired = signing_keys.signing_keys_retire(actor=actor)
            else:
                key = signing_keys.signing_key_rotate(actor=actor, algorithm=algorithm)
                self.stdout.write(self.style.SUCCESS(f"New current key {key.kid} ({key.algorithm})."))
                retired = list(SigningKey.objects.filter(state=SigningKey.State.RETIRED, retired_at__isnull=False, retired_at__gte=key.created_at))
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from error
        for key in retired:
            self.stdout.write(f"Retired {key.kid}.")
        for key in SigningKey.objects.filter(state=SigningKey.State.PREVIOUS).order_by("verify_until"):
            self.stdout.write(f"Previous {key.kid} ({key.algorithm}) verifies until {key.verify_until.isoformat()}.")
        self.stdout.write("Other processes pick the change up within JWT_KEYS_CACHE_SECONDS (at once for a new kid).")
