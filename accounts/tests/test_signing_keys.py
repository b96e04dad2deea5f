"""Signing keys (issue 18 part 4): asymmetric JWTs with a kid, a JWKS others verify with, rotation, HS256 mode.

The peer: PyJWT's `PyJWKClient` fetching `/.well-known/jwks.json` from a live server, as another
service would, across a rotation and a retirement.
"""

import base64
import hashlib
import hmac
import io
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest
from asgiref.sync import async_to_sync
from channels.testing import WebsocketCommunicator
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.core.management import CommandError, call_command
from freezegun import freeze_time
from rest_framework.test import APIClient
from rest_framework_simplejwt.exceptions import TokenError
from rest_framework_simplejwt.tokens import AccessToken

from accounts import signing_keys
from accounts.models import SigningKey
from accounts.signing_keys import keyring
from audit.models import AuditEvent
from core import clock
from core.actor import Actor


@pytest.fixture(autouse=True)
def _fresh_keyring():
    # Rotations in one test (rolled back after it) must not leak into the next through the cache.
    keyring.forget()
    yield
    keyring.forget()


def sign_in(user, organization=None) -> dict:
    """A fresh session's token pair (the login endpoint's own tests live elsewhere)."""
    from accounts.sessions import session_create

    pair = session_create(user=user, actor=Actor.for_user(user), organization_id=organization.id if organization else None)
    return pair.as_response()


def header(token: str) -> dict:
    return jwt.get_unverified_header(token)


def rotate(**options) -> str:
    out = io.StringIO()
    call_command("auth_rotate_signing_key", stdout=out, **options)
    return out.getvalue()


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header_: dict, claims: dict, sign) -> str:
    """A JWT assembled by hand (what an attacker sends): sign(signing_input) -> signature bytes."""
    signing_input = f"{b64(json.dumps(header_).encode())}.{b64(json.dumps(claims).encode())}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def me(token: str):
    return APIClient().get("/api/v1/users/me", HTTP_AUTHORIZATION=f"Bearer {token}")


def jwks_client(live_server) -> jwt.PyJWKClient:
    # No cache of its own between calls: each verification reads the set the server publishes now.
    return jwt.PyJWKClient(f"{live_server.url}/.well-known/jwks.json", cache_jwk_set=False, cache_keys=False)


def verify_as_peer(client: jwt.PyJWKClient, token: str) -> dict:
    """What another service does: key by kid from our JWKS, our issuer, the key's algorithm only."""
    key = client.get_signing_key_from_jwt(token)
    return jwt.decode(token, key.key, algorithms=[key.algorithm_name], issuer=signing_keys.issuer())


# --- tokens --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_tokens_are_eddsa_with_the_current_kid_and_the_issuer(user):
    tokens = sign_in(user)
    current = SigningKey.objects.get(state=SigningKey.State.CURRENT)

    for token in (tokens["access_token"], tokens["refresh_token"]):
        assert header(token) == {"alg": "EdDSA", "kid": current.kid, "typ": "JWT"}
    claims = jwt.decode(tokens["access_token"], options={"verify_signature": False})
    assert claims["iss"] == "http://localhost:8000"
    # The kid is the RFC 7638 thumbprint of the public key.
    public = serialization.load_pem_public_key(current.public_key.encode())
    assert current.kid == signing_keys.thumbprint(signing_keys.public_jwk(algorithm="EdDSA", public_key=public))


@pytest.mark.django_db
def test_the_private_key_is_encrypted_at_rest_and_gone_once_retired(user):
    key = SigningKey.objects.get(state=SigningKey.State.CURRENT)

    assert "PRIVATE KEY" not in key.private_key_encrypted
    opened = serialization.load_pem_private_key(signing_keys.unseal(key.private_key_encrypted), password=None)
    assert opened.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode() == key.public_key

    rotate()
    rotate(retire=[key.kid])

    key.refresh_from_db()
    assert key.state == SigningKey.State.RETIRED and key.private_key_encrypted == ""


@pytest.mark.django_db
def test_verification_reads_the_cached_keys_not_the_database(user, django_assert_num_queries):
    token = sign_in(user)["access_token"]
    AccessToken(token)  # warm

    with django_assert_num_queries(0):
        for _ in range(5):
            AccessToken(token)


@pytest.mark.django_db
def test_an_unknown_kid_reloads_the_keys_at_most_once_per_interval(user, django_assert_num_queries):
    token = sign_in(user)["access_token"]
    AccessToken(token)  # warm
    stranger = ed25519.Ed25519PrivateKey.generate()

    forged = [
        jwt.encode({"sub": "x", "exp": 2**31, "iat": 0, "iss": signing_keys.issuer()}, stranger, algorithm="EdDSA", headers={"kid": uuid.uuid4().hex})
        for _ in range(3)
    ]

    with django_assert_num_queries(1):  # one reload for the first unknown kid, none for the next ones
        for token in forged:
            with pytest.raises(TokenError):
                AccessToken(token)
    assert me(forged[0]).status_code == 401


@pytest.mark.django_db
def test_a_rotation_made_by_another_process_is_seen_on_its_first_new_kid(user):
    old_token = sign_in(user)["access_token"]
    assert me(old_token).status_code == 200  # this process caches the old key set
    # Another process rotates: the database changes, this process's cache does not hear of it.
    SigningKey.objects.filter(state=SigningKey.State.CURRENT).update(state=SigningKey.State.PREVIOUS, verify_until=clock.now() + timedelta(days=8))
    new = signing_keys._signing_key_create(algorithm="EdDSA", actor=Actor.system(), reason="rotation")
    new_token = jwt.encode(
        {"sub": str(user.id), "exp": 2**31, "iat": 0, "iss": signing_keys.issuer(), "token_type": "access", "jti": "j"},
        serialization.load_pem_private_key(signing_keys.unseal(new.private_key_encrypted), password=None),
        algorithm="EdDSA",
        headers={"kid": new.kid},
    )

    # The unknown kid makes this process look again: the new key verifies, the old one still does.
    assert AccessToken(new_token)["sub"] == str(user.id)
    assert me(old_token).status_code == 200


# --- forged tokens -------------------------------------------------------------------------------


@pytest.fixture
def genuine(user) -> str:
    return sign_in(user)["access_token"]


def _claims(token: str) -> dict:
    return jwt.decode(token, options={"verify_signature": False})


@pytest.mark.django_db
def test_a_token_signed_by_an_unknown_key_is_refused(genuine):
    stranger = ed25519.Ed25519PrivateKey.generate()
    forged = jwt.encode(_claims(genuine), stranger, algorithm="EdDSA", headers={"kid": "not-our-key"})
    no_kid = jwt.encode(_claims(genuine), stranger, algorithm="EdDSA")
    # Our kid, a stranger's signature.
    our_kid = jwt.encode(_claims(genuine), stranger, algorithm="EdDSA", headers={"kid": header(genuine)["kid"]})

    for token in (forged, no_kid, our_kid):
        response = me(token)
        assert response.status_code == 401, response.content
        assert response.json()["error"]["code"] == "TOKEN_INVALID"


@pytest.mark.django_db
def test_hs256_signed_with_the_public_key_is_refused(genuine):
    # The classic alg confusion: HMAC keyed with the published public key, under the real kid.
    current = SigningKey.objects.get(state=SigningKey.State.CURRENT)
    kid = header(genuine)["kid"]
    for secret in (current.public_key.encode(), json.dumps(signing_keys.jwks()["keys"][0]).encode()):
        forged = hand_made(
            {"alg": "HS256", "typ": "JWT", "kid": kid}, _claims(genuine), lambda data, secret=secret: hmac.new(secret, data, hashlib.sha256).digest()
        )
        assert me(forged).status_code == 401


@pytest.mark.django_db
def test_alg_none_is_refused(genuine):
    kid = header(genuine)["kid"]
    for alg in ("none", "None", "NONE"):
        forged = hand_made({"alg": alg, "typ": "JWT", "kid": kid}, _claims(genuine), lambda data: b"")
        assert me(forged).status_code == 401
        assert me(forged.rsplit(".", 1)[0] + ".").status_code == 401


@pytest.mark.django_db
def test_another_algorithm_than_the_keys_is_refused(genuine):
    # An RS256 key of ours exists, but the token claims RS256 under the EdDSA key's kid.
    rotate(algorithm="RS256")
    rsa_key = SigningKey.objects.get(state=SigningKey.State.CURRENT)
    rsa_private = serialization.load_pem_private_key(signing_keys.unseal(rsa_key.private_key_encrypted), password=None)
    forged = jwt.encode(_claims(genuine), rsa_private, algorithm="RS256", headers={"kid": header(genuine)["kid"]})

    assert me(genuine).status_code == 200  # the EdDSA token itself still verifies (previous key)
    assert me(forged).status_code == 401


@pytest.mark.django_db
def test_a_token_for_another_issuer_is_refused(genuine, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ISSUER": "https://api.elsewhere.test"}

    assert me(genuine).status_code == 401


# --- JWKS and discovery through a real JWKS client ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_jwks_client_verifies_tokens_across_a_rotation_and_not_after_retirement(live_server, user):
    peer = jwks_client(live_server)
    old = sign_in(user)
    old_kid = header(old["access_token"])["kid"]

    # before: the peer verifies our access token with the published key
    assert verify_as_peer(peer, old["access_token"])["sub"] == str(user.id)

    # when the key is rotated
    rotate()
    new = sign_in(user)
    new_kid = header(new["access_token"])["kid"]

    # then new tokens carry the new kid, and the peer verifies both the new and the old token
    assert new_kid != old_kid
    assert [key["kid"] for key in peer.fetch_data()["keys"]] == [new_kid, old_kid]
    assert verify_as_peer(peer, new["access_token"])["sub"] == str(user.id)
    assert verify_as_peer(peer, old["access_token"])["sub"] == str(user.id)
    assert me(old["access_token"]).status_code == 200

    # when the old key is retired (a leaked key: at once, before its tokens expire)
    rotate(retire=[old_kid])

    # then the old key is no longer published, the peer cannot verify its token, and the API refuses it
    assert [key["kid"] for key in peer.fetch_data()["keys"]] == [new_kid]
    with pytest.raises(jwt.PyJWKClientError):
        verify_as_peer(peer, old["access_token"])
    assert me(old["access_token"]).status_code == 401
    assert verify_as_peer(peer, new["access_token"])["sub"] == str(user.id)


@pytest.mark.django_db(transaction=True)
def test_the_jwks_client_verifies_rs256_keys_too(live_server, user):
    rotate(algorithm="RS256")
    token = sign_in(user)["access_token"]

    assert header(token)["alg"] == "RS256"
    assert verify_as_peer(jwks_client(live_server), token)["sub"] == str(user.id)


@pytest.mark.django_db
def test_jwks_document_is_public_cacheable_and_holds_no_private_member(client):
    response = client.get("/.well-known/jwks.json")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    assert response["Cache-Control"] == "public, max-age=300"
    (key,) = response.json()["keys"]
    assert set(key) == {"kty", "crv", "x", "kid", "alg", "use"}
    assert key["kty"] == "OKP" and key["crv"] == "Ed25519" and key["alg"] == "EdDSA" and key["use"] == "sig"
    # Conditional GET: an unchanged set answers 304.
    again = client.get("/.well-known/jwks.json", HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304


@pytest.mark.django_db
def test_openid_configuration_names_the_issuer_and_its_keys(client):
    response = client.get("/.well-known/openid-configuration")

    assert response.status_code == 200
    body = response.json()
    assert body["issuer"] == "http://localhost:8000"
    assert body["jwks_uri"] == "http://localhost:8000/.well-known/jwks.json"
    assert body["id_token_signing_alg_values_supported"] == ["EdDSA"]
    assert client.post("/.well-known/openid-configuration").status_code == 405


# --- rotation --------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_rotation_keeps_the_old_key_verifying_until_its_refresh_tokens_expire_and_is_audited(user, settings):
    old = SigningKey.objects.get(state=SigningKey.State.CURRENT)
    before = clock.now()

    out = rotate()

    old.refresh_from_db()
    new = SigningKey.objects.get(state=SigningKey.State.CURRENT)
    assert old.state == SigningKey.State.PREVIOUS and new.kid != old.kid
    assert old.verify_until >= before + settings.SIMPLE_JWT["REFRESH_TOKEN_LIFETIME"]
    assert new.kid in out and old.kid in out
    rotated = AuditEvent.objects.get(action="signing_key.rotated")
    assert rotated.target_id == str(new.pk) and rotated.actor_type == "system"
    assert AuditEvent.objects.filter(action="signing_key.created", target_id=str(new.pk)).exists()


@pytest.mark.django_db
def test_previous_keys_retire_once_their_last_token_has_expired(user, monkeypatch):
    old = SigningKey.objects.get(state=SigningKey.State.CURRENT)
    rotate()
    old.refresh_from_db()

    rotate(retire_only=True)  # not yet
    assert SigningKey.objects.get(pk=old.pk).state == SigningKey.State.PREVIOUS

    later = old.verify_until + timedelta(seconds=1)
    monkeypatch.setattr(clock, "now", lambda: later)
    # Past verify_until the key stops verifying at once, even before the retirement runs.
    assert old.kid not in [key["kid"] for key in signing_keys.jwks()["keys"]]
    rotate(retire_only=True)

    assert SigningKey.objects.get(pk=old.pk).state == SigningKey.State.RETIRED
    assert AuditEvent.objects.filter(action="signing_key.retired", target_id=str(old.pk)).exists()


@pytest.mark.django_db
def test_only_previous_keys_can_be_retired_early(user):
    current = SigningKey.objects.get(state=SigningKey.State.CURRENT)

    with pytest.raises(CommandError, match="Not a previous key"):
        rotate(retire=[current.kid])
    with pytest.raises(CommandError, match="Not a previous key"):
        rotate(retire=["no-such-kid"])
    assert SigningKey.objects.get(pk=current.pk).state == SigningKey.State.CURRENT


@pytest.mark.django_db
def test_refresh_works_across_a_rotation(user):
    client = APIClient()
    tokens = sign_in(user)
    old_kid = header(tokens["refresh_token"])["kid"]

    rotate()
    response = client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")

    assert response.status_code == 200, response.content
    refreshed = response.json()
    new_kid = SigningKey.objects.get(state=SigningKey.State.CURRENT).kid
    assert new_kid != old_kid
    assert header(refreshed["access_token"])["kid"] == new_kid
    assert header(refreshed["refresh_token"])["kid"] == new_kid
    assert me(refreshed["access_token"]).status_code == 200
    # Rotation with reuse detection still holds: the spent refresh token is refused.
    again = client.post("/api/v1/auth/refresh", {"refresh_token": tokens["refresh_token"]}, format="json")
    assert again.status_code == 401


@pytest.mark.django_db
def test_the_first_key_is_made_on_first_use_when_none_exists(user):
    SigningKey.objects.all().delete()
    keyring.forget()

    token = sign_in(user)["access_token"]

    key = SigningKey.objects.get(state=SigningKey.State.CURRENT)
    assert header(token)["kid"] == key.kid
    assert AuditEvent.objects.filter(action="signing_key.created", target_id=str(key.pk)).exists()


# --- the other verifiers: internal validate-token and the WebSocket -------------------------------


@pytest.mark.django_db
def test_internal_validate_token_accepts_old_and_new_keys_after_rotation(settings, org_factory):
    from internal.tests.conftest import SECRET, SERVICE, SignedClient

    settings.INTERNAL_SERVICE_KEYS = {SERVICE: SECRET}
    organization, members = org_factory(roles=("owner", "member"))
    old = sign_in(members["member"].user, organization)["access_token"]
    rotate()
    new = sign_in(members["owner"].user, organization)["access_token"]
    stranger = jwt.encode(_claims(new), ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "unknown"})
    signed = SignedClient()

    for token, active in ((old, True), (new, True), (stranger, False)):
        response = signed.post("/internal/v1/validate-token", {"token": token})
        assert response.status_code == 200, response.content
        assert response.json()["active"] is active


@pytest.mark.django_db(transaction=True)
def test_websocket_accepts_old_and_new_keys_and_refuses_an_unknown_kid(org_factory):
    from config.asgi import application

    organization, members = org_factory(roles=("owner", "member"))
    old = sign_in(members["member"].user, organization)["access_token"]
    rotate()
    new = sign_in(members["owner"].user, organization)["access_token"]
    stranger = jwt.encode(_claims(new), ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": "unknown"})

    async def handshake(token):
        communicator = WebsocketCommunicator(application, f"/ws?org={organization.id}", subprotocols=["bearer", token])
        connected, _ = await communicator.connect(timeout=2)
        if connected and not await communicator.receive_nothing(timeout=0.1):
            output = await communicator.receive_output(timeout=2)
            await communicator.wait()
            return output.get("code")
        await communicator.disconnect()
        return "open" if connected else None

    assert async_to_sync(handshake)(old) == "open"
    assert async_to_sync(handshake)(new) == "open"
    assert async_to_sync(handshake)(stranger) == 4401


# --- HS256: the single-service mode -----------------------------------------------------------------


@pytest.fixture
def shared_secret(settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ALGORITHM": "HS256", "SIGNING_KEY": "a-shared-secret-0123456789abcdef0123456789"}


@pytest.mark.django_db
def test_hs256_mode_signs_with_the_shared_secret_and_publishes_nothing(shared_secret, user, client):
    token = sign_in(user)["access_token"]

    assert header(token)["alg"] == "HS256" and header(token)["kid"].startswith("hs-")
    claims = jwt.decode(token, "a-shared-secret-0123456789abcdef0123456789", algorithms=["HS256"], issuer=signing_keys.issuer())
    assert claims["sub"] == str(user.id)
    assert me(token).status_code == 200
    assert client.get("/.well-known/jwks.json").status_code == 404
    assert client.get("/.well-known/openid-configuration").status_code == 404
    with pytest.raises(CommandError, match="HS256"):
        rotate()


@pytest.mark.django_db
def test_hs256_mode_refuses_asymmetric_tokens_and_other_secrets(user, shared_secret):
    hs_token = sign_in(user)["access_token"]
    claims, kid = _claims(hs_token), header(hs_token)["kid"]

    other_secret = jwt.encode(claims, "another-secret-0123456789abcdef0123456789", algorithm="HS256", headers={"kid": kid})
    eddsa = jwt.encode(claims, ed25519.Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": kid})

    assert me(other_secret).status_code == 401
    assert me(eddsa).status_code == 401


# --- verified access tokens remembered per process (issue 17) -------------------------------------


def _verifications(monkeypatch) -> list[str]:
    """Every signature check PyJWT makes from now on (the token it was asked to verify)."""
    checked: list[str] = []
    decode = jwt.decode

    def counting(token, *args, **kwargs):
        if (kwargs.get("options") or {}).get("verify_signature", True):
            checked.append(token.decode() if isinstance(token, bytes) else token)
        return decode(token, *args, **kwargs)

    monkeypatch.setattr(jwt, "decode", counting)
    return checked


@pytest.mark.django_db
def test_an_access_token_is_verified_once_then_remembered(user, monkeypatch):
    token = sign_in(user)["access_token"]
    checked = _verifications(monkeypatch)

    assert [me(token).status_code for _ in range(3)] == [200, 200, 200]

    assert len(checked) == 1


@pytest.mark.django_db
def test_a_remembered_token_is_refused_once_its_key_is_retired(user):
    token = sign_in(user)["access_token"]
    old = SigningKey.objects.get(state=SigningKey.State.CURRENT)
    assert me(token).status_code == 200  # remembered
    rotate()
    assert me(token).status_code == 200  # the previous key still verifies

    rotate(retire=[old.kid])

    response = me(token)
    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_INVALID"


@pytest.mark.django_db
def test_a_remembered_token_is_refused_once_it_expires(user, monkeypatch):
    token = sign_in(user)["access_token"]
    assert me(token).status_code == 200
    expires = jwt.decode(token, options={"verify_signature": False})["exp"]

    with freeze_time(datetime.fromtimestamp(expires + 1, tz=UTC)):
        response = me(token)

    assert response.status_code == 401 and response.json()["error"]["code"] == "TOKEN_EXPIRED"


@pytest.mark.django_db
def test_a_remembered_token_is_refused_under_another_issuer(user, settings):
    token = sign_in(user)["access_token"]
    assert me(token).status_code == 200

    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ISSUER": "https://api.elsewhere.test"}

    assert me(token).status_code == 401


@pytest.mark.django_db
def test_a_remembered_token_with_another_signature_or_claims_is_verified_afresh(user, monkeypatch):
    token = sign_in(user)["access_token"]
    assert me(token).status_code == 200
    signing_input, signature = token.rsplit(".", 1)
    head, body = signing_input.split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    promoted = f"{head}.{b64(json.dumps({**claims, 'sub': str(uuid.uuid4())}).encode())}.{signature}"
    flipped = f"{signing_input}.{signature[:-2]}{'A' if signature[-2] != 'A' else 'B'}{signature[-1]}"
    checked = _verifications(monkeypatch)

    assert me(promoted).status_code == 401
    assert me(flipped).status_code == 401
    assert checked == [promoted, flipped]


@pytest.mark.django_db
def test_a_remembered_token_of_a_revoked_session_is_refused(user):
    from accounts.models import UserSession
    from accounts.sessions import session_revoke

    token = sign_in(user)["access_token"]
    assert me(token).status_code == 200

    session = UserSession.objects.get(id=jwt.decode(token, options={"verify_signature": False})["sid"])
    session_revoke(session=session, reason="test", actor=Actor.system())

    assert me(token).status_code == 401


@pytest.mark.django_db
def test_the_memory_is_bounded_and_drops_the_least_recently_used(user):
    from accounts.token_backend import VerifiedTokens

    key = keyring.current()
    memory = VerifiedTokens(size=2)
    for token in ("a", "b"):
        memory.put(token, key=key, issuer="iss", claims={"exp": 2**40, "iat": 0})
    assert memory.get("a", issuer="iss", leeway=0) is not None  # "a" used last

    memory.put("c", key=key, issuer="iss", claims={"exp": 2**40, "iat": 0})

    assert memory.get("b", issuer="iss", leeway=0) is None
    assert memory.get("a", issuer="iss", leeway=0) is not None and memory.get("c", issuer="iss", leeway=0) is not None


@pytest.mark.django_db
def test_a_remembered_tokens_claims_are_each_callers_own(user, org_factory):
    from accounts.sessions import session_create

    organization, members = org_factory(roles=("owner",))
    owner = members["owner"].user
    token = session_create(user=owner, actor=Actor.for_user(owner), organization_id=organization.id).as_response()["access_token"]
    first = AccessToken(token)

    first.payload["features"]["injected"] = True
    first.payload["permissions"].append("org:delete-everything")

    again = AccessToken(token).payload
    assert "injected" not in again["features"] and "org:delete-everything" not in again["permissions"]
