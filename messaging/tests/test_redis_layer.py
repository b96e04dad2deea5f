"""The production channel layer (channels_redis) carries the same events; skipped without a Redis.

Uses Redis database 11 on 127.0.0.1:6379 (MESSAGING_REDIS_TEST_URL overrides), with a fresh key prefix per run.
"""

import os
import uuid

import pytest
from asgiref.sync import async_to_sync

from messaging.tests.conftest import group_chat, send
from messaging.tests.test_websocket import QUIET, WAIT, open_for

REDIS_TEST_URL = os.environ.get("MESSAGING_REDIS_TEST_URL", "redis://127.0.0.1:6379/11")

pytestmark = pytest.mark.django_db(transaction=True)


def _redis_up() -> bool:
    import redis

    try:
        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=0.5).ping())
    except Exception:
        return False


@pytest.fixture
def redis_layer(settings):
    if not _redis_up():
        pytest.skip(f"no Redis at {REDIS_TEST_URL}")
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_TEST_URL], "prefix": prefix}}}
    yield
    import redis

    client = redis.Redis.from_url(REDIS_TEST_URL)
    for key in client.scan_iter(f"{prefix}*"):
        client.delete(key)


def test_message_new_travels_through_redis(redis_layer, team, other_team):
    chat = group_chat(team.clients["owner"], team.user("member"))

    async def scenario():
        from asgiref.sync import sync_to_async

        member = await open_for(team, "member")
        foreigner = await open_for(other_team, "owner")
        message = await sync_to_async(send)(team.clients["owner"], chat["id"], "via redis")

        event = await member.receive_json_from(timeout=WAIT)
        assert event["type"] == "message:new" and event["data"]["message"]["id"] == message["id"]
        assert await foreigner.receive_nothing(timeout=QUIET)
        await member.disconnect()
        await foreigner.disconnect()

    async_to_sync(scenario)()
