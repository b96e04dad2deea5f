"""The project's user row (accounts_user), read by the bare ceiling without the accounts app.

Unmanaged: no migration, no table of its own. Every column of accounts.User, so the bare view
fetches the same row the project's authentication does (core/tests/test_bench_bare.py checks
that each column here exists there).
"""

import uuid

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import models


class BareUser(AbstractBaseUser):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    email = models.EmailField(max_length=254, unique=True)
    full_name = models.CharField(max_length=150, blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    avatar_url = models.URLField(max_length=500, blank=True)
    phone = models.CharField(max_length=32, blank=True)
    email_verified_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    is_superuser = models.BooleanField(default=False)
    date_joined = models.DateTimeField()
    updated_at = models.DateTimeField()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    class Meta:
        managed = False
        db_table = "accounts_user"
