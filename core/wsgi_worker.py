"""The gunicorn worker class serving HTTP through WSGI (gunicorn.conf.py's default `worker_class`; compose's `web`).

Measured 1.46x the requests of the ASGI worker on `GET users/me` with the same code
(docs/performance.md, "Server comparison"); one request at a time per worker, so a database
outage must not make requests wait for the pool (core/db/postgresql fails them fast). WebSockets
(`/ws`) and the AI chat's streams stay on the ASGI worker (core.asgi_worker) in a process of its
own, behind the same proxy (docs/operations.md). gunicorn's threaded worker already drains
kept-alive connections when it stops (a request arriving on one is answered with
`Connection: close`), so recycling drops none; this subclass adds what core.asgi_worker does for
the pool: a starting worker fills its database pool before it accepts, and it accepts a new
connection only while one of its threads is free.

Why the second: gunicorn's threaded worker accepts whenever it holds fewer than
`worker_connections` (1000) connections, so with a few kept-alive connections (a proxy's pool,
wrk's 8) the first worker to wake took most of them and served them one at a time while another
worker idled: `GET users/me` 135-278 req/s from round to round at the same CPU per request
(docs/performance.md). Here a worker whose threads are all busy stops listening until one is
free again, so new connections go to a worker that can serve them now; connections it already
holds are served as before. A worker pauses accepting for ACCEPT_PAUSE_MAX_SECONDS at most: when
every worker stays busy with the connections it holds, a waiting connection is still accepted
within that much (without the bound it waited for a lull: p99 3-4 s). The listener is switched
on and off on the worker's main thread only (gunicorn runs every completion there).

Imported by the gunicorn master before Django is set up: nothing here touches Django at import.
"""

import logging
import time

from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker

logger = logging.getLogger(__name__)

# Seconds a starting worker waits for its database pool to fill before it accepts requests.
POOL_FILL_SECONDS = 5.0
# Longest a worker whose threads are all busy stops accepting: when every worker is busy, a new
# connection still gets accepted within this (it would otherwise wait for a lull).
ACCEPT_PAUSE_MAX_SECONDS = 0.05


class ThreadWorker(_ThreadWorker):
    """gunicorn's threaded worker: its database pool filled before it accepts (core.dbpool.pool_fill), accepting only with a thread free."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.busy = 0  # requests handed to the thread pool and not finished
        self.paused_since = 0.0  # when the busy threads last stopped accepting

    def accept_wanted(self) -> bool:
        """A thread is free, or accepting has been paused for ACCEPT_PAUSE_MAX_SECONDS already."""
        return self.busy < self.cfg.threads or time.monotonic() - self.paused_since >= ACCEPT_PAUSE_MAX_SECONDS

    def set_accept_enabled(self, enabled: bool) -> None:
        super().set_accept_enabled(enabled and self.accept_wanted())

    def enqueue_req(self, conn) -> None:
        self.busy += 1
        if self.busy >= self.cfg.threads and self._accepting:
            self.paused_since = time.monotonic()
            super().set_accept_enabled(False)
        super().enqueue_req(conn)

    def wait_for_and_dispatch_events(self, timeout: float) -> None:
        # gunicorn's loop waits up to 1 s; a pause must end on time even when nothing else wakes it.
        if not self._accepting and self.busy >= self.cfg.threads and self.alive:
            timeout = min(timeout, max(0.0, self.paused_since + ACCEPT_PAUSE_MAX_SECONDS - time.monotonic()))
        super().wait_for_and_dispatch_events(timeout)

    def finish_request(self, conn, fs) -> None:
        self.busy -= 1
        super().finish_request(conn, fs)  # may hand the connection's next request over at once
        if self.alive:
            self.set_accept_enabled(self.nr_conns < self.worker_connections)

    def run(self) -> None:
        from django.conf import settings

        # The application is loaded: config.wsgi has set Django up (any other app: nothing to fill).
        if settings.configured:
            from core.dbpool import pool_fill

            if not pool_fill(timeout=POOL_FILL_SECONDS):
                logger.warning("database pool not full after %ss; serving anyway", POOL_FILL_SECONDS)
        super().run()
