"""Re-wrap every organization's integration data key under the newest master key."""

from django.core.management.base import BaseCommand

from integrations import vault
from integrations.models import OrgDataKey


class Command(BaseCommand):
    help = (
        "Re-wrap every org's integration data key under the first INTEGRATIONS_MASTER_KEYS entry. "
        "Runs online: one short row-locked transaction per key, readers keep working throughout."
    )

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Only count the data keys still wrapped by older master keys.")

    def handle(self, *args, dry_run=False, **options):
        current = vault.current_key_id()
        stale = OrgDataKey.objects.exclude(master_key_id=current).values_list("organization_id", flat=True)
        if dry_run:
            self.stdout.write(f"{stale.count()} data key(s) to re-wrap under master key {current}.")
            return
        rewrapped = 0
        failed = []
        for organization_id in stale.iterator(chunk_size=500):
            try:
                rewrapped += vault.data_key_rewrap(organization_id=organization_id)
            except vault.VaultError as error:
                failed.append(str(organization_id))
                self.stderr.write(str(error))
        self.stdout.write(f"Re-wrapped {rewrapped} data key(s) under master key {current}.")
        if failed:
            self.stderr.write(f"{len(failed)} data key(s) could not be opened by any configured master key.")
            raise SystemExit(1)
