"""Page/limit pagination, exercised through GET /api/v1/auth/sessions."""

import pytest
from rest_framework.request import Request
from rest_framework.test import APIRequestFactory

from core.exceptions import ApplicationError
from core.pagination import PageLimitPagination

SESSIONS = "/api/v1/auth/sessions"


@pytest.fixture
def client_with_sessions(bearer_client, make_session, user):
    """A client for `user`, who has five live sessions (the client's own included)."""
    client = bearer_client(user)
    for _ in range(4):
        make_session(user)
    return client


def test_shape_and_counts(client_with_sessions):
    response = client_with_sessions.get(SESSIONS, {"page": 2, "limit": 2})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"data", "total", "page", "limit", "total_pages"}
    assert (body["total"], body["page"], body["limit"], body["total_pages"]) == (5, 2, 2, 3)
    assert len(body["data"]) == 2


def test_pages_cover_every_item_once(client_with_sessions):
    pages = [client_with_sessions.get(SESSIONS, {"page": n, "limit": 2}).json()["data"] for n in (1, 2, 3)]

    ids = [item["id"] for page in pages for item in page]
    assert [len(page) for page in pages] == [2, 2, 1]
    assert len(set(ids)) == 5


def test_defaults_when_absent_or_empty(client_with_sessions):
    for params in ({}, {"page": "", "limit": ""}):
        body = client_with_sessions.get(SESSIONS, params).json()

        assert (body["page"], body["limit"], body["total"], body["total_pages"]) == (1, 20, 5, 1)


def test_limit_is_capped_at_100(client_with_sessions):
    body = client_with_sessions.get(SESSIONS, {"limit": 1000}).json()

    assert body["limit"] == 100
    assert len(body["data"]) == 5


@pytest.mark.parametrize("param", ["page", "limit"])
@pytest.mark.parametrize("value", ["abc", "0", "-1", "1.5", "+2", " 3"])
def test_bad_page_or_limit_is_400_naming_it(client_with_sessions, param, value):
    response = client_with_sessions.get(SESSIONS, {param: value})

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "VALIDATION_ERROR"
    assert list(error["details"]) == [param]


def test_page_past_the_last_is_404_envelope(client_with_sessions):
    response = client_with_sessions.get(SESSIONS, {"page": 4, "limit": 2})

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "NOT_FOUND"


def test_empty_list_is_one_empty_page():
    paginator = PageLimitPagination()
    request = _drf_request({})

    page = paginator.paginate_queryset([], request)
    body = paginator.get_paginated_response(page).data

    assert body == {"data": [], "total": 0, "page": 1, "limit": 20, "total_pages": 1}


def test_paginator_raises_the_validation_error_directly():
    with pytest.raises(ApplicationError) as raised:
        PageLimitPagination().paginate_queryset(list(range(3)), _drf_request({"limit": "x"}))

    assert raised.value.details == {"limit": ["`limit` must be a positive integer."]}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("rows", "params", "expected", "counts"),
    [
        (5, {}, (5, 1, 5), False),  # every row on page 1: the rows fetched are the total
        (20, {}, (20, 1, 20), False),  # exactly a full page: the one extra row fetched is absent
        (21, {}, (21, 2, 20), True),  # more than a page: COUNT, once
        (21, {"page": 2}, (21, 2, 1), True),  # later pages count as before
        (0, {}, (0, 1, 0), False),
    ],
)
def test_count_query_only_when_page_one_is_not_everything(rows, params, expected, counts):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from accounts.models import User

    User.objects.bulk_create(User(email=f"pager-{n}@example.com") for n in range(rows))
    paginator = PageLimitPagination()

    with CaptureQueriesContext(connection) as queries:
        page = paginator.paginate_queryset(User.objects.filter(email__startswith="pager-").order_by("email"), _drf_request(params))
        body = paginator.get_paginated_response([user.email for user in page]).data

    assert (body["total"], body["total_pages"], len(body["data"])) == expected
    assert [q["sql"].startswith("SELECT COUNT(*)") for q in queries.captured_queries].count(True) == int(counts)
    assert len(queries.captured_queries) == 1 + int(counts)


def _drf_request(params: dict) -> Request:
    return Request(APIRequestFactory().get("/items", params))
