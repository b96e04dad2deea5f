"""API key secrets, their keyed hashes and the authentication service, below the HTTP layer."""

import hashlib

import pytest
import yaml
from django.core.management import call_command

from core import authz
from core.actor import Actor, Principal, actor_of
from core.errors import ErrorCode
from permissions import apikeys
from permissions.authentication import ApiKeyPrincipal

pytestmark = pytest.mark.django_db


def issue(organization, **fields):
    return apikeys.api_key_create(organization=organization, name="k", grantable=authz.codes(), actor=Actor.system(), **fields)


def test_secret_shape_and_prefix(org_factory):
    organization, _ = org_factory()

    api_key, secret = issue(organization)

    assert secret.startswith(f"sk_live_{api_key.prefix}_")
    assert len(api_key.prefix) == apikeys.PREFIX_LENGTH and api_key.prefix.isalnum()
    assert apikeys.secret_prefix(secret) == api_key.prefix
    assert len(secret.split("_", 3)[3]) >= 43  # 32 random bytes, url-safe


@pytest.mark.parametrize(
    "value",
    ["", "sk_live_", "sk_test_AbCdEf012345_" + "a" * 43, "sk_live_AbCdEf01234_" + "a" * 43, "sk_live_AbCdEf012345_short", "sk_live_AbCdEf012345_" + "a" * 5000],
)
def test_malformed_secrets_have_no_prefix(value):
    assert apikeys.secret_prefix(value) is None


def test_the_hash_is_an_hmac_keyed_by_the_secret_key(settings):
    secret = "sk_live_AbCdEf012345_" + "a" * 43

    first = apikeys.secret_hash(secret)
    settings.SECRET_KEY = "another-secret-key-0123456789-abcdefghijklmnop"

    assert len(first) == 64 and first != hashlib.sha256(secret.encode()).hexdigest()
    assert apikeys.secret_hash(secret) != first


def test_keys_survive_a_secret_key_rotation_through_fallbacks(org_factory, settings):
    organization, _ = org_factory()
    old_key = settings.SECRET_KEY
    api_key, secret = issue(organization)

    settings.SECRET_KEY = "rotated-secret-key-0123456789-abcdefghijklmnop"
    with pytest.raises(apikeys.ApiKeyRejected):
        apikeys.api_key_authenticate(secret=secret, ip=None)
    settings.SECRET_KEY_FALLBACKS = [old_key]

    assert apikeys.api_key_authenticate(secret=secret, ip=None) == api_key


def test_unknown_and_wrong_secrets_are_token_invalid(org_factory):
    organization, _ = org_factory()
    api_key, _ = issue(organization)

    for secret in (f"sk_live_{api_key.prefix}_" + "b" * 43, "sk_live_ZZZZZZZZZZZZ_" + "b" * 43):
        with pytest.raises(apikeys.ApiKeyRejected) as rejected:
            apikeys.api_key_authenticate(secret=secret, ip=None)
        assert rejected.value.code == ErrorCode.TOKEN_INVALID


def test_principal_is_authenticated_but_no_user(org_factory):
    organization, _ = org_factory()
    first, _ = issue(organization)
    second, _ = issue(organization)

    principal = ApiKeyPrincipal(first)

    assert principal.is_authenticated and principal.is_active and not principal.is_staff
    assert principal.pk == first.id != ApiKeyPrincipal(second).pk  # throttles count per key
    assert principal.email == ""


def test_the_actor_of_a_keys_request_is_the_key_acting_for_its_creator(org_factory, rf):
    organization, members = org_factory()
    owner = members["owner"].user
    api_key, _ = issue(organization, created_by=owner)
    request = rf.get("/")
    request.auth, request.user = Principal.for_api_key(api_key), ApiKeyPrincipal(api_key)

    actor = actor_of(request)

    assert actor.is_api_key and actor.api_key == api_key
    assert actor.user is None and actor.acting_for == owner


def test_schema_documents_the_api_key_scheme_on_org_routes_only(tmp_path):
    target = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(target))
    schema = yaml.safe_load(target.read_text())

    scheme = schema["components"]["securitySchemes"]["apiKeyAuth"]
    members = schema["paths"]["/api/v1/orgs/{org_id}/members"]["get"]["security"]
    me = schema["paths"]["/api/v1/users/me"]["get"]["security"]
    created = schema["components"]["schemas"]["ApiKeySecret"]["properties"]
    listed = schema["components"]["schemas"]["ApiKey"]["properties"]

    assert (scheme["type"], scheme["in"], scheme["name"]) == ("apiKey", "header", "Authorization")
    assert {"apiKeyAuth": []} in members and {"apiKeyAuth": []} not in me
    assert "secret" in created and "secret" not in listed and "secret_hash" not in listed
    for path in ("", "/{key_id}", "/{key_id}/rotate", "/{key_id}/permanent"):
        assert f"/api/v1/orgs/{{org_id}}/api-keys{path}" in schema["paths"]
