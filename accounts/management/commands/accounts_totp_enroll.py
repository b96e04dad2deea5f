"""Enroll a user (typically the first staff member) in TOTP from the command line, for the OTP-protected admin."""

from django.core.management.base import BaseCommand, CommandError

from accounts import mfa
from accounts.models import User
from core.actor import Actor
from core.exceptions import ApplicationError


class Command(BaseCommand):
    help = (
        "Two steps, as the API's enroll/confirm: without --confirm, start enrollment and print the TOTP "
        "secret and otpauth:// URL for an authenticator app; then run again with --confirm CODE to turn "
        "MFA on and print the 10 backup codes (shown once)."
    )

    def add_arguments(self, parser):
        parser.add_argument("email", help="The account's email address.")
        parser.add_argument("--confirm", metavar="CODE", help="A current code from the authenticator app.")

    def handle(self, *args, email: str, confirm: str | None = None, **options):
        user = User.objects.filter(email=User.objects.normalize_email(email), is_active=True).first()
        if user is None:
            raise CommandError(f"No active account with the email {email!r}.")
        try:
            if confirm is None:
                self._start(user)
            else:
                self._confirm(user, confirm)
        except ApplicationError as error:
            raise CommandError(error.message) from error

    def _start(self, user: User) -> None:
        enrollment = mfa.totp_enroll(user=user, by_operator=True)
        self.stdout.write(f"Secret: {enrollment['secret']}")
        self.stdout.write(f"URL:    {enrollment['otpauth_url']}")
        self.stdout.write(f"Add it to an authenticator app, then run: manage.py accounts_totp_enroll {user.email} --confirm CODE")

    def _confirm(self, user: User, code: str) -> None:
        codes = mfa.totp_confirm(user=user, code=code.strip(), actor=Actor.for_user(user))
        self.stdout.write(self.style.SUCCESS(f"MFA is on for {user.email}. Backup codes (each works once; shown only now):"))
        for backup_code in codes:
            self.stdout.write(f"  {backup_code}")
