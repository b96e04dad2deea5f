"""Request ids on every response; /api/ paths with or without a trailing slash."""

import pytest

from core.middleware import current_request_id


@pytest.mark.parametrize("given", ["abc-123", "req_1.2:3", "A" * 128, "0f8fad5b-d9cb-469f-a165-70867728950e"])
def test_sane_request_id_is_echoed(api_client, db, given):
    response = api_client.get("/health", HTTP_X_REQUEST_ID=given)

    assert response["X-Request-ID"] == given


@pytest.mark.parametrize(
    "given",
    [
        "A" * 129,  # too long
        "has space",
        "semi;colon",
        "<script>",
        "abc\n",  # a trailing newline must not slip past the pattern's end anchor
        "ünïcode",
        "",
    ],
)
def test_bad_request_id_is_replaced(api_client, db, given):
    response = api_client.get("/health", HTTP_X_REQUEST_ID=given)

    generated = response["X-Request-ID"]
    assert generated != given
    assert len(generated) == 32 and all(char in "0123456789abcdef" for char in generated)


def test_request_id_is_generated_when_absent_and_differs_per_request(api_client, db):
    first = api_client.get("/health")["X-Request-ID"]
    second = api_client.get("/health")["X-Request-ID"]

    assert first and second and first != second


@pytest.mark.parametrize("path", ["/health", "/health/live", "/api/v1/nope", "/nope"])
def test_request_id_is_on_every_response(api_client, db, path):
    response = api_client.get(path, HTTP_X_REQUEST_ID="trace-me")

    assert response["X-Request-ID"] == "trace-me"


def test_request_id_is_cleared_after_the_request(api_client, db):
    api_client.get("/health", HTTP_X_REQUEST_ID="gone-after")

    assert current_request_id() is None


@pytest.mark.parametrize("path", ["/api/v1/auth/setup-status", "/api/v1/auth/setup-status/"])
def test_api_paths_answer_with_and_without_trailing_slash(api_client, db, path):
    response = api_client.get(path)

    assert response.status_code == 200
    assert response.json() == {"needs_setup": True, "has_users": False}


def test_trailing_slash_works_for_posts_too(api_client, db):
    # A redirect would turn the POST into a GET in most clients; the slash is simply ignored.
    response = api_client.post("/api/v1/auth/register/", {}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"


def test_unknown_path_with_trailing_slash_is_still_404(api_client, db):
    response = api_client.get("/api/v1/no-such-thing/")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"
