"""The gunicorn worker class serving HTTP through WSGI (gunicorn.conf.py's default `worker_class`; compose's `web`).

Measured 1.46x the requests of the ASGI worker on `GET users/me` with the same code
(docs/performance.md, "Server comparison"); one request at a time per worker, so a database
outage must not make requests wait for the pool (core/db/postgresql fails them fast). WebSockets
(`/ws`) and the AI chat's streams stay on the ASGI worker (core.asgi_worker) in a process of its
own, behind the same proxy (docs/operations.md). gunicorn's threaded worker already drains
kept-alive connections when it stops (a request arriving on one is answered with
`Connection: close`), so recycling drops none; this subclass adds what core.asgi_worker does for
the pool: a starting worker fills its database pool before it accepts.

Imported by the gunicorn master before Django is set up: nothing here touches Django at import.
"""

import logging

from gunicorn.workers.gthread import ThreadWorker as _ThreadWorker

logger = logging.getLogger(__name__)

# Seconds a starting worker waits for its database pool to fill before it accepts requests.
POOL_FILL_SECONDS = 5.0


class ThreadWorker(_ThreadWorker):
    """gunicorn's threaded worker, its database pool filled before it accepts (core.dbpool.pool_fill)."""

    def run(self) -> None:
        from django.conf import settings

        # The application is loaded: config.wsgi has set Django up (any other app: nothing to fill).
        if settings.configured:
            from core.dbpool import pool_fill

            if not pool_fill(timeout=POOL_FILL_SECONDS):
                logger.warning("database pool not full after %ss; serving anyway", POOL_FILL_SECONDS)
        super().run()
