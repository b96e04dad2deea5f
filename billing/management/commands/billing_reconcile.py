"""Compare each organization's local subscription (Stripe, Razorpay) and pending one-off payments with the provider and repair drift."""

from django.core.management.base import BaseCommand

from billing.models import Subscription
from billing.services.oneoff import payment_reconcile
from billing.services.reconcile import payments_pending_ids, subscription_reconcile
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = "Repair drift between local subscriptions and Stripe or Razorpay, settle pending one-off payments, expire ended manual subscriptions."

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Report the drift without repairing it.")
        parser.add_argument("--organization", help="Only this organization id.")

    def handle(self, *args, dry_run=False, organization=None, **options):
        accounts = Subscription.objects.select_related("organization").exclude(provider="").order_by("created_at")
        if organization:
            accounts = accounts.filter(organization_id=organization)
        drifted = failed = 0
        for account in accounts:
            try:
                repairs = subscription_reconcile(organization=account.organization, dry_run=dry_run)
            except ApplicationError as exc:
                failed += 1
                self.stderr.write(f"{account.organization_id}: {exc.message}")
                continue
            if repairs:
                drifted += 1
                verb = "would repair" if dry_run else "repaired"
                self.stdout.write(f"{account.organization_id}: {verb}: {'; '.join(repairs)}")
        self.stdout.write(f"{accounts.count()} checked, {drifted} drifted, {failed} failed")
        # One-off payments whose webhook never came: re-read each pending one at its provider.
        pending = payments_pending_ids(organization_id=organization)
        settled = payment_failures = 0
        for payment_id in pending:
            try:
                drift = payment_reconcile(payment_id=payment_id, dry_run=dry_run)
            except ApplicationError as exc:
                payment_failures += 1
                self.stderr.write(f"payment {payment_id}: {exc.message}")
                continue
            if drift:
                settled += 1
                self.stdout.write(f"payment {payment_id}: {'would repair' if dry_run else 'repaired'}: {drift}")
        self.stdout.write(f"{len(pending)} pending payments checked, {settled} drifted, {payment_failures} failed")
