"""The bare ceiling of `make bench` (config.settings.bare, config/bare/): it boots and authenticates like simplejwt alone.

It runs in a process of its own (its settings cannot be loaded beside the project's), on a
throwaway SQLite file holding only the user table, with the JWT settings of this process: a
token the project minted is accepted there, a forged one and a missing one are refused.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

ROOT = Path(__file__).resolve().parents[2]

SCRIPT = r"""
import json, os, sys
from datetime import datetime, timezone

import django

django.setup()
from django.conf import settings
from django.db import connection
from django.test import Client

from config.bare.models import BareUser

with connection.schema_editor() as editor:
    editor.create_model(BareUser)  # unmanaged: the project's migrations make this table
now = datetime.now(timezone.utc)
user = BareUser.objects.create(id=os.environ["BARE_USER_ID"], email=os.environ["BARE_USER_EMAIL"], password="!", date_joined=now, updated_at=now)
BareUser.objects.create(email="inactive@example.test", password="!", date_joined=now, updated_at=now, is_active=False)
token = os.environ["BARE_TOKEN"]
forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
client = Client()
path = "/api/v1/bare/me"


def answer(**headers):
    response = client.get(path, **headers)
    return [response.status_code, json.loads(response.content or b"{}")]


print(json.dumps({
    "valid": answer(HTTP_AUTHORIZATION=f"Bearer {token}"),
    "forged": answer(HTTP_AUTHORIZATION=f"Bearer {forged}"),
    "missing": answer(),
    "middleware": settings.MIDDLEWARE,
    "apps": settings.INSTALLED_APPS,
    "columns": [field.column for field in BareUser._meta.concrete_fields],
}))
"""


@pytest.fixture
def bare(tmp_path, user):
    """Run the bare settings in a subprocess with a project-minted access token for `user`."""
    from accounts.sessions import session_create
    from accounts.signing_keys import issuer, keyring
    from core.actor import Actor

    token = session_create(user=user, actor=Actor.for_user(user)).access_token
    # The key that signed this very token (by its kid), not whatever the process holds as current.
    key = keyring.verifying(jwt.get_unverified_header(token)["kid"])
    hs256 = key.algorithm == "HS256"
    pem = "" if hs256 else key.verifying.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.bare",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'bare.sqlite3'}",
        "REDIS_URL": "",
        # The key the token was signed with: the shared secret (HS256) or its public half; the issuer it names.
        "JWT_ALGORITHM": key.algorithm,
        "JWT_SIGNING_KEY": key.signing if hs256 else "",
        "JWT_VERIFYING_KEY": pem,
        "JWT_ISSUER": issuer(),
        "BARE_TOKEN": token,
        "BARE_USER_ID": str(user.id),
        "BARE_USER_EMAIL": user.email,
    }
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.django_db
def test_boots_bare_and_answers_a_project_token(bare, user):
    # given a token minted by the project for `user`, whose row the bare process reads
    # when it is sent to the bare view
    status, body = bare["valid"]

    # then the bare ceiling answers the user's id and e-mail, with no middleware and no project app
    assert status == 200
    assert body == {"id": str(user.id), "email": user.email}
    assert bare["middleware"] == []
    assert set(bare["apps"]) == {"django.contrib.auth", "django.contrib.contenttypes", "rest_framework", "rest_framework_simplejwt", "config.bare"}


@pytest.mark.django_db
def test_refuses_a_forged_or_missing_token(bare):
    assert bare["forged"][0] == 401
    assert bare["missing"][0] == 401


@pytest.mark.django_db
def test_reads_the_project_user_row(bare):
    from accounts.models import User

    # The bare model must read only columns the project's user table has (the same row).
    project_columns = {field.column for field in User._meta.concrete_fields}
    assert set(bare["columns"]) <= project_columns, set(bare["columns"]) - project_columns
