"""The project's gunicorn worker (core/asgi_worker.py) recycles without dropping keep-alive connections (issue 19).

A real gunicorn with the worker class serves a minimal ASGI app (core/tests/asgi_hello.py) while
clients send requests back to back on keep-alive connections, reconnecting when the server says
`Connection: close`. uvicorn's own worker closed idle connections as it stopped, and clients
racing a request onto one saw it dropped (RemoteDisconnected, ConnectionResetError): ~17 of
2400 requests in this same test.
"""

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _spare_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(
    params=[("core.asgi_worker.UvicornWorker", "core.tests.asgi_hello:app"), ("core.wsgi_worker.ThreadWorker", "core.tests.asgi_hello:wsgi_app")],
    ids=["asgi", "wsgi"],
)
def recycling_server(tmp_path, request):
    """gunicorn, 2 workers of the project's worker class (ASGI for /ws, WSGI for HTTP), each recycled after ~100 requests."""
    worker_class, application = request.param
    port = _spare_port()
    env = {key: value for key, value in os.environ.items() if key != "DJANGO_SETTINGS_MODULE"}
    env["PYTHONPATH"] = str(ROOT)
    gunicorn = Path(sys.executable).with_name("gunicorn")
    log = tmp_path / "gunicorn.log"
    command = [str(gunicorn), application, "--worker-class", worker_class, "--workers", "2",
               "--bind", f"127.0.0.1:{port}", "--max-requests", "100", "--max-requests-jitter", "20", "--keep-alive", "5"]  # fmt: skip
    # cwd: a directory without gunicorn.conf.py, so only these options apply.
    with log.open("wb") as output:
        process = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield port, log
    process.terminate()
    process.wait(timeout=30)


def _client(port: int, requests: int, errors: list[str]) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    for _ in range(requests):
        try:
            connection.request("GET", "/")
            response = connection.getresponse()
            response.read()
            assert response.status == 200
            if response.will_close:
                connection.close()  # asked to: the next request opens a new connection
        except (OSError, http.client.HTTPException) as exc:
            errors.append(type(exc).__name__)
            connection.close()
    connection.close()


def test_workers_recycle_without_dropping_a_connection(recycling_server):
    port, log = recycling_server
    errors: list[str] = []

    # when 4 clients send 600 requests each, back to back on keep-alive connections
    clients = [threading.Thread(target=_client, args=(port, 600, errors)) for _ in range(4)]
    for client in clients:
        client.start()
    for client in clients:
        client.join(timeout=120)

    # then workers were recycled several times, and no request lost its connection
    text = log.read_text()
    # uvicorn's worker and gunicorn's threaded one say it in their own words
    recycles = text.count("Maximum request limit") + text.count("Autorestarting worker")
    assert recycles >= 2, log.read_text()[-2000:]
    assert errors == []
