"""The integrations list and the log run as many queries for 100 rows as for 10."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core import clock
from integrations.models import Integration, IntegrationLog

pytestmark = pytest.mark.django_db


def _grow(organization, start: int, count: int) -> None:
    now = clock.now()
    for n in range(start, start + count):
        # Keys beyond the catalog are fine here: rows, not providers, are what the list walks.
        integration = Integration.objects.create(organization=organization, key=f"bench{n}", type="api_key", connected_at=now)
        IntegrationLog.objects.create(organization=organization, integration=integration, action="CONNECTED", timestamp=now)


def _queries(client, url: str) -> tuple[int, int]:
    client.get(url)  # warm the org-context and permission caches
    with CaptureQueriesContext(connection) as context:
        response = client.get(url)
    assert response.status_code == 200
    body = response.json()
    return len(context.captured_queries), len(next(iter(body.values())))


@pytest.mark.parametrize("url", ["/api/v1/integrations", "/api/v1/integrations/logs?limit=500"])
def test_queries_do_not_grow_with_rows(team, owner_client, url):
    organization = team[0]
    _grow(organization, 0, 10)
    few, few_items = _queries(owner_client, url)

    _grow(organization, 10, 90)
    many, many_items = _queries(owner_client, url)

    assert (few_items, many_items) == (10, 100)
    assert many == few
