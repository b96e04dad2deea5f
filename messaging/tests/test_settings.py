"""Channel layer settings: Redis when CHANNELS_REDIS_URL / REDIS_URL is set, in-process memory otherwise."""

import json
import os
import subprocess
import sys

from django.conf import settings

SCRIPT = "import json, django; django.setup(); from django.conf import settings; print(json.dumps(settings.CHANNEL_LAYERS))"


def layers_with(**env) -> dict:
    environment = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "CHANNELS_REDIS_URL")}
    environment.update(env, DJANGO_SETTINGS_MODULE="config.settings.dev")
    output = subprocess.run([sys.executable, "-c", SCRIPT], env=environment, cwd=settings.BASE_DIR, capture_output=True, text=True, check=True)
    return json.loads(output.stdout.strip().splitlines()[-1])["default"]


def test_channel_layer_follows_the_environment():
    assert layers_with(REDIS_URL="", CHANNELS_REDIS_URL="")["BACKEND"] == "channels.layers.InMemoryChannelLayer"
    from_redis_url = layers_with(REDIS_URL="redis://cache:6379/0", CHANNELS_REDIS_URL="")
    assert from_redis_url["BACKEND"] == "channels_redis.core.RedisChannelLayer"
    assert from_redis_url["CONFIG"]["hosts"] == ["redis://cache:6379/0"]
    own = layers_with(REDIS_URL="redis://cache:6379/0", CHANNELS_REDIS_URL="redis://cache:6379/2")
    assert own["CONFIG"]["hosts"] == ["redis://cache:6379/2"]
