"""The WSGI worker (core/wsgi_worker.py) accepts only with a thread free, so kept-alive connections spread over the workers (issue 17).

gunicorn's own threaded worker accepts while it holds fewer than `worker_connections`: with a
few kept-alive connections opened at once, one worker often took most of them and served them
one at a time while another idled. A real gunicorn serves core/tests/asgi_hello.py's
`wsgi_pid_app` (5 ms per request, answering with its pid) to 8 connections opened together.
With `--worker-class gthread` instead, this test's split was 7/1 in three runs of four here.
"""

import http.client
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

from core.tests.test_asgi_worker import ROOT, _spare_port


@pytest.fixture
def pid_server(tmp_path):
    """gunicorn, 2 workers × 1 thread of the project's WSGI worker, serving wsgi_pid_app."""
    port = _spare_port()
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = tmp_path / "gunicorn.log"
    command = [str(gunicorn), "core.tests.asgi_hello:wsgi_pid_app", "--worker-class", "core.wsgi_worker.ThreadWorker", "--workers", "2", "--threads", "1",
               "--bind", f"127.0.0.1:{port}", "--keep-alive", "30"]  # fmt: skip
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and log.read_text().count("Booting worker") < 2:
        time.sleep(0.1)
    time.sleep(0.5)  # both workers past their start
    yield port, log
    process.terminate()
    process.wait(timeout=30)


def _connection(port: int, start: threading.Barrier, served: list, slowest: list) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    start.wait()
    pids = set()
    for _ in range(40):
        began = time.monotonic()
        connection.request("GET", "/")
        response = connection.getresponse()
        pids.add(response.read().decode())
        slowest.append(time.monotonic() - began)
    connection.close()
    served.append(pids)


def test_kept_alive_connections_opened_together_spread_over_the_workers(pid_server):
    port, log = pid_server
    served: list[set[str]] = []
    slowest: list[float] = []
    start = threading.Barrier(8)

    # when 8 clients open their connections together and send 40 requests each on them
    clients = [threading.Thread(target=_connection, args=(port, start, served, slowest)) for _ in range(8)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=60)

    # then each connection stayed on one worker
    assert len(served) == 8 and all(len(pids) == 1 for pids in served), log.read_text()[-2000:]
    per_worker = Counter(next(iter(pids)) for pids in served)
    # and neither worker held more than 6 of the 8, and no request waited long for a connection
    assert len(per_worker) == 2 and max(per_worker.values()) <= 6, per_worker
    assert max(slowest) < 1.0, max(slowest)


def test_a_pause_ends_on_time_even_when_nothing_wakes_the_worker(monkeypatch):
    # given a worker whose only thread is busy and which stopped accepting 20 ms ago
    from gunicorn.workers.gthread import ThreadWorker as GunicornThreadWorker

    from core import wsgi_worker

    worker = wsgi_worker.ThreadWorker.__new__(wsgi_worker.ThreadWorker)
    worker.cfg = type("Cfg", (), {"threads": 1})()
    worker.alive, worker._accepting, worker.busy = True, False, 1
    worker.paused_since = wsgi_worker.time.monotonic() - 0.02
    waits = []
    monkeypatch.setattr(GunicornThreadWorker, "wait_for_and_dispatch_events", lambda self, timeout: waits.append(timeout))

    # when gunicorn's loop waits for events (its own timeout: 1 s)
    worker.wait_for_and_dispatch_events(1.0)
    worker.busy = 0  # a thread free: the pause is over anyway, the loop's own timeout applies
    worker.wait_for_and_dispatch_events(1.0)

    # then the first wait ends when the pause does, the second keeps gunicorn's
    assert 0 < waits[0] <= wsgi_worker.ACCEPT_PAUSE_MAX_SECONDS - 0.01 and waits[1] == 1.0
