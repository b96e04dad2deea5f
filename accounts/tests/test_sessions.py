from datetime import timedelta

import pytest
from freezegun import freeze_time
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import UserSession
from accounts.tests.factories import UserFactory
from audit.models import AuditEvent
from conftest import login_tokens

pytestmark = pytest.mark.django_db

REFRESH = "/api/v1/auth/refresh"


def bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def code_of(response) -> str:
    return response.json()["error"]["code"]


def test_refresh_rotates_and_new_tokens_work(api_client, user):
    tokens = login_tokens(api_client, user.email)
    response = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 200, response.content
    rotated = response.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert AccessToken(rotated["access_token"])["sid"] == AccessToken(tokens["access_token"])["sid"]
    assert bearer(rotated["access_token"]).get("/api/v1/users/me").status_code == 200
    # The rotated token keeps rotating.
    again = api_client.post(REFRESH, {"refresh_token": rotated["refresh_token"]}, format="json")
    assert again.status_code == 200


def test_refresh_token_reuse_revokes_the_whole_session(api_client, user):
    tokens = login_tokens(api_client, user.email)
    rotated = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json").json()
    # when: the first refresh token is presented again (stolen copy)
    reuse = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    # then
    assert reuse.status_code == 401
    assert code_of(reuse) == "TOKEN_INVALID"
    session = UserSession.objects.get(user=user)
    assert session.revoked_reason == "refresh_reuse"
    assert api_client.post(REFRESH, {"refresh_token": rotated["refresh_token"]}, format="json").status_code == 401
    me = bearer(rotated["access_token"]).get("/api/v1/users/me")
    assert me.status_code == 401 and code_of(me) == "TOKEN_INVALID"
    assert AuditEvent.objects.filter(action="session.revoked", target_id=str(session.id)).count() == 1


def test_refresh_with_expired_token(api_client, user):
    with freeze_time("2026-01-01 00:00:00"):
        tokens = login_tokens(api_client, user.email)
    with freeze_time("2026-01-09 00:00:00"):
        response = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
    assert response.status_code == 401
    assert code_of(response) == "TOKEN_EXPIRED"


@pytest.mark.parametrize("value", ["garbage", "a.b.c", ""])
def test_refresh_with_bad_token(api_client, value):
    response = api_client.post(REFRESH, {"refresh_token": value}, format="json")
    assert response.status_code in (400, 401)
    assert code_of(response) in ("VALIDATION_ERROR", "TOKEN_INVALID")


def test_access_token_cannot_be_used_as_refresh(api_client, user):
    tokens = login_tokens(api_client, user.email)
    response = api_client.post(REFRESH, {"refresh_token": tokens["access_token"]}, format="json")
    assert response.status_code == 401 and code_of(response) == "TOKEN_INVALID"


def test_expired_access_token(api_client, user):
    with freeze_time("2026-01-01 00:00:00"):
        tokens = login_tokens(api_client, user.email)
    with freeze_time("2026-01-01 00:16:00"):
        response = bearer(tokens["access_token"]).get("/api/v1/users/me")
    assert response.status_code == 401 and code_of(response) == "TOKEN_EXPIRED"


def test_logout_kills_access_and_refresh_at_once(api_client, user):
    tokens = login_tokens(api_client, user.email)
    client = bearer(tokens["access_token"])
    assert client.post("/api/v1/auth/logout").status_code == 204
    assert client.get("/api/v1/users/me").status_code == 401
    assert api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json").status_code == 401


def test_logout_all_revokes_every_session(api_client, user):
    first = login_tokens(api_client, user.email)
    second = login_tokens(api_client, user.email)
    assert bearer(first["access_token"]).post("/api/v1/auth/logout-all").status_code == 204
    assert bearer(second["access_token"]).get("/api/v1/users/me").status_code == 401
    assert UserSession.objects.filter(user=user, revoked_at__isnull=True).count() == 0


def test_sessions_list_marks_current_and_hides_revoked(api_client, user):
    first = login_tokens(api_client, user.email)
    second = login_tokens(api_client, user.email)
    third = login_tokens(api_client, user.email)
    bearer(third["access_token"]).post("/api/v1/auth/logout")
    response = bearer(first["access_token"]).get("/api/v1/auth/sessions")
    assert response.status_code == 200
    body = response.json()
    assert body["total"] == 2 and body["page"] == 1 and body["total_pages"] == 1
    current = [s for s in body["data"] if s["current"]]
    assert len(current) == 1 and current[0]["id"] == AccessToken(first["access_token"])["sid"]
    assert {s["id"] for s in body["data"]} == {
        AccessToken(first["access_token"])["sid"],
        AccessToken(second["access_token"])["sid"],
    }
    assert set(body["data"][0]) >= {"id", "created_at", "last_used_at", "ip", "user_agent", "current"}
    assert body["data"][0]["created_at"].endswith("Z")


def test_revoke_one_session(api_client, user):
    first = login_tokens(api_client, user.email)
    second = login_tokens(api_client, user.email)
    sid = AccessToken(second["access_token"])["sid"]
    assert bearer(first["access_token"]).delete(f"/api/v1/auth/sessions/{sid}").status_code == 204
    assert bearer(second["access_token"]).get("/api/v1/users/me").status_code == 401
    assert bearer(first["access_token"]).get("/api/v1/users/me").status_code == 200


def test_cannot_see_or_revoke_another_users_session(api_client, user):
    mine = login_tokens(api_client, user.email)
    other = UserFactory()
    theirs = login_tokens(api_client, other.email)
    their_sid = AccessToken(theirs["access_token"])["sid"]
    response = bearer(mine["access_token"]).delete(f"/api/v1/auth/sessions/{their_sid}")
    assert response.status_code == 404 and code_of(response) == "NOT_FOUND"
    assert bearer(theirs["access_token"]).get("/api/v1/users/me").status_code == 200
    listed = bearer(mine["access_token"]).get("/api/v1/auth/sessions").json()["data"]
    assert their_sid not in {s["id"] for s in listed}


def test_sessions_list_query_count_is_constant(api_client, user, django_assert_max_num_queries):
    tokens = login_tokens(api_client, user.email)
    for _ in range(30):
        login_tokens(api_client, user.email)
    with django_assert_max_num_queries(6):  # savepoint pair, session, user, count, page
        response = bearer(tokens["access_token"]).get("/api/v1/auth/sessions?limit=100")
    assert response.json()["total"] == 31


def test_revoked_session_is_refused_even_with_a_cold_cache(api_client, user):
    from django.core.cache import cache

    tokens = login_tokens(api_client, user.email)
    UserSession.objects.filter(user=user).update(revoked_at=UserSession.objects.get(user=user).created_at)
    cache.clear()
    assert bearer(tokens["access_token"]).get("/api/v1/users/me").status_code == 401


def test_session_expiry_ends_refresh(api_client, user):
    with freeze_time("2026-01-01 00:00:00") as frozen:
        tokens = login_tokens(api_client, user.email)
        frozen.tick(timedelta(days=6))
        rotated = api_client.post(REFRESH, {"refresh_token": tokens["refresh_token"]}, format="json")
        assert rotated.status_code == 200
        frozen.tick(timedelta(days=2))
        # The session ends 7 days after sign-in even though the rotated token was issued later.
        last = api_client.post(REFRESH, {"refresh_token": rotated.json()["refresh_token"]}, format="json")
        assert last.status_code == 401 and code_of(last) == "TOKEN_INVALID"


# --- refresh reads (issue 17: the session and user compiled once, the membership read once) -------


def test_a_signed_refresh_token_naming_no_session_or_a_malformed_one_is_refused(api_client, user):
    from rest_framework_simplejwt.tokens import RefreshToken

    for sid in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", ""):
        token = RefreshToken()
        token["jti"], token["sub"], token["sid"] = "x", str(user.id), sid
        response = api_client.post(REFRESH, {"refresh_token": str(token)}, format="json")
        assert response.status_code == 401 and code_of(response) == "TOKEN_INVALID", sid


def test_refresh_reads_the_session_with_its_user_and_the_membership_once(api_client, org_factory, monkeypatch, django_assert_num_queries):
    import organizations.context as context
    from accounts.sessions import session_create
    from core.actor import Actor

    organization, members = org_factory(roles=("owner",))
    owner = members["owner"].user
    refresh = session_create(user=owner, actor=Actor.for_user(owner), organization_id=organization.id).as_response()["refresh_token"]
    reads = []
    read = context._membership_read
    monkeypatch.setattr(context, "_membership_read", lambda *args: reads.append(args) or read(*args))

    response = api_client.post(REFRESH, {"refresh_token": refresh}, format="json")
    assert response.status_code == 200 and len(reads) == 1  # the org's claims and the permissions' share it
    with django_assert_num_queries(2):  # the session with its user, the compare-and-swap: the rest is cached
        again = api_client.post(REFRESH, {"refresh_token": response.json()["refresh_token"]}, format="json")

    claims = AccessToken(again.json()["access_token"])
    assert (claims["org_id"], claims["role"], claims["sub"]) == (str(organization.id), "owner", str(owner.id))
    assert "members:read" in claims["permissions"] and len(reads) == 2


def test_a_bearer_whose_user_is_gone_inactive_or_malformed_is_refused(api_client, user):
    from rest_framework_simplejwt.tokens import AccessToken as Access

    tokens = login_tokens(api_client, user.email)
    sid = AccessToken(tokens["access_token"])["sid"]
    assert bearer(tokens["access_token"]).get("/api/v1/users/me").status_code == 200

    def minted(sub):
        token = Access()
        token["sid"] = sid
        if sub is not None:
            token["sub"] = sub
        return str(token)

    for sub in ("not-a-uuid", "00000000-0000-0000-0000-000000000000", "", None):
        response = bearer(minted(sub)).get("/api/v1/users/me")
        assert response.status_code == 401 and code_of(response) == "TOKEN_INVALID", sub
    user.is_active = False
    user.save(update_fields=["is_active"])
    response = bearer(tokens["access_token"]).get("/api/v1/users/me")
    assert response.status_code == 401 and code_of(response) == "TOKEN_INVALID"


def test_the_bearers_user_row_is_the_whole_model(api_client, user, django_assert_num_queries):
    from accounts.authentication import user_of_token

    found = user_of_token(str(user.pk))

    assert {f.attname: getattr(found, f.attname) for f in type(user)._meta.concrete_fields} == {
        f.attname: getattr(type(user).objects.get(pk=user.pk), f.attname) for f in type(user)._meta.concrete_fields
    }
    assert user_of_token(str(user.pk).upper()).pk == user.pk and user_of_token(None) is None


def test_a_session_state_read_from_the_database_when_the_cache_has_none(user):
    from django.core.cache import cache

    from accounts.authentication import session_is_active
    from accounts.sessions import session_create
    from core import clock
    from core.actor import Actor

    live, revoked, expired = (session_create(user=user, actor=Actor.for_user(user)).session for _ in range(3))
    UserSession.objects.filter(pk=revoked.pk).update(revoked_at=clock.now())
    UserSession.objects.filter(pk=expired.pk).update(expires_at=clock.now() - timedelta(seconds=1))
    cache.clear()

    assert [session_is_active(s.pk) for s in (live, revoked, expired)] == [True, False, False]
    assert session_is_active("not-a-uuid") is False and session_is_active("00000000-0000-0000-0000-000000000000") is False
