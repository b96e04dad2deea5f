"""Test-only helpers that still run production code paths."""
from django.contrib.auth.hashers import Argon2PasswordHasher


class FastArgon2PasswordHasher(Argon2PasswordHasher):
    """Argon2 with minimal cost: same code path as production, fast enough for a test suite."""

    time_cost = 1
    memory_cost = 64
    parallelism = 1
