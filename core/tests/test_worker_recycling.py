"""gunicorn.conf.py recycles workers rarely, gracefully and never all at once (issue 19)."""

import runpy
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_recycling_is_rare_and_jittered_by_default(monkeypatch):
    for name in ("GUNICORN_MAX_REQUESTS", "GUNICORN_MAX_REQUESTS_JITTER", "GUNICORN_GRACEFUL_TIMEOUT", "GUNICORN_KEEPALIVE"):
        monkeypatch.delenv(name, raising=False)

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert config["max_requests"] == 30000
    assert config["max_requests_jitter"] == 6000
    assert config["graceful_timeout"] == 30
    assert config["keepalive"] == 5


def test_recycling_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("GUNICORN_MAX_REQUESTS", "0")
    monkeypatch.delenv("GUNICORN_MAX_REQUESTS_JITTER", raising=False)

    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))

    assert (config["max_requests"], config["max_requests_jitter"]) == (0, 0)
