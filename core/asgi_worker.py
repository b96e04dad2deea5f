"""The gunicorn worker class of the ASGI server (`GUNICORN_WORKER_CLASS=core.asgi_worker.UvicornWorker`: compose's `asgi` service, WebSockets and streams).

Imported by the gunicorn master before Django is set up: nothing here may touch Django at import
(the worker touches it only once it serves, after the application was loaded).
"""

import logging

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn_worker import UvicornWorker as _UvicornWorker

logger = logging.getLogger(__name__)

# Seconds a starting worker waits for its database pool to fill before it accepts requests.
POOL_FILL_SECONDS = 5.0


class DrainingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's HTTP/1.1 protocol, but a stopping worker drains keep-alive connections instead of cutting them.

    uvicorn closes an idle keep-alive connection the moment its worker stops (a recycle after
    GUNICORN_MAX_REQUESTS, or a graceful shutdown). A client that sent its next request on it at
    that moment sees the connection dropped, with no answer: the only errors outside the faults
    in issue 19's soak. Here a stopping worker answers the next request on each connection with
    `Connection: close` and closes it then; a connection that stays idle closes at its keep-alive
    timeout, as it would anyway. New connections go to the other workers meanwhile.
    """

    draining = False

    def shutdown(self) -> None:
        self.draining = True
        if self.cycle is None or self.cycle.response_complete:
            return  # idle: kept for the next request (answered with Connection: close) or its keep-alive timeout
        self.cycle.keep_alive = False

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False


class UvicornWorker(_UvicornWorker):
    """uvicorn's gunicorn worker: forwarded headers ignored, keep-alive connections drained, the pool filled first.

    With proxy headers on, uvicorn replaces the peer address with the left-most
    X-Forwarded-For entry (which the client writes) for every trusted peer, and compose trusted
    `*`: a client chose its own IP for lockouts and throttles. The app reads X-Forwarded-For
    itself, right to left for NUM_PROXIES hops (core.http.client_ip), and the scheme from
    X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER); the server must leave both alone.

    A stopping worker drains its keep-alive connections (DrainingHttpToolsProtocol), and a
    starting one fills its database pool before it accepts (core.dbpool.pool_fill), so a
    recycle costs clients neither a dropped connection nor a 503.
    """

    CONFIG_KWARGS = {
        **_UvicornWorker.CONFIG_KWARGS,
        "proxy_headers": False,
        "http": "core.asgi_worker:DrainingHttpToolsProtocol",
    }

    async def _serve(self) -> None:
        from django.conf import settings

        # The application is loaded: config.asgi has set Django up (any other app: nothing to fill).
        if settings.configured:
            from core.dbpool import pool_fill

            if not pool_fill(timeout=POOL_FILL_SECONDS):
                logger.warning("database pool not full after %ss; serving anyway", POOL_FILL_SECONDS)
        await super()._serve()
