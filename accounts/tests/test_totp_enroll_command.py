"""manage.py accounts_totp_enroll: the first staff member turns MFA on without the API."""

import pytest
from django.core.management import CommandError, call_command
from django_otp.plugins.otp_totp.models import TOTPDevice

from accounts.models import BackupCode
from accounts.tests.factories import UserFactory
from accounts.tests.test_mfa import totp_now
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    from io import StringIO

    out = StringIO()
    call_command("accounts_totp_enroll", *args, stdout=out)
    return out.getvalue()


def test_start_then_confirm_turns_mfa_on_and_prints_backup_codes_once():
    staff = UserFactory(is_staff=True, email="first@example.com")

    started = run("First@Example.com")
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    confirmed = run(staff.email, "--confirm", totp_now(device))

    assert "otpauth://totp/" in started and "Secret: " in started
    device.refresh_from_db()
    assert device.confirmed
    printed = [line.strip() for line in confirmed.splitlines()[1:]]
    assert len(printed) == 10 and BackupCode.objects.filter(device__user=staff).count() == 10
    assert not any(code.code_hash in confirmed for code in BackupCode.objects.filter(device__user=staff))
    assert AuditEvent.objects.filter(action="mfa.enabled", actor_id=staff.id).exists()


def test_a_wrong_code_unknown_account_or_second_enrollment_is_an_error():
    staff = UserFactory(is_staff=True)
    run(staff.email)

    with pytest.raises(CommandError):
        run(staff.email, "--confirm", "000000x")
    with pytest.raises(CommandError, match="No active account"):
        run("nobody@example.com")
    device = TOTPDevice.objects.get(user=staff, confirmed=False)
    run(staff.email, "--confirm", totp_now(device))
    with pytest.raises(CommandError):
        run(staff.email)  # already on
