"""ASGI entry point: HTTP goes to Django, WebSockets (`/ws`) to the messaging consumer.

Served by uvicorn: gunicorn with uvicorn workers in production (gunicorn.conf.py, compose's
`web`; core.asgi_worker turns uvicorn's forwarded-header handling off, core.http.client_ip reads
X-Forwarded-For itself), `uvicorn --reload` in `make run`.
"""

import os

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIHandler
from django.http import FileResponse

from core.asgi import call_with_body_limit
from core.handlers import AtomicWritesOnly

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

_END = object()


async def _pulled_one_by_one(parts):
    """Iterate a sync iterator from async code, one part per hop to the request's thread."""
    # thread_sensitive: the part is produced on the thread (and database connection) the view ran on.
    pull = sync_to_async(next, thread_sensitive=True)
    while (part := await pull(parts, _END)) is not _END:
        yield part


class StreamingASGIHandler(AtomicWritesOnly, ASGIHandler):
    """Django's ASGI handler, but the sync middleware chain runs whole in one hop, and sync streams stream.

    - Reads run outside the request transaction (core.handlers.AtomicWritesOnly).
    - Django's own handler builds the *async* middleware chain: every sync middleware hook
      (each `process_view`, a middleware that can run async, the view) then gets a hop of its
      own between the event loop and the request's thread. Every view and middleware here is
      sync, so the chain is built sync, as under WSGI, and entered once per request on the
      request's thread (its database connection is that thread's, as before).
    - Django's own handler reads a sync iterator (a FileResponse, a CSV export, an SSE generator)
      to its end before sending the first byte, so nothing streams and large bodies sit in memory.
    - Django's own handler buffers the whole request body before any view runs: bodies are cut
      off at their route's limit while they stream in (core.asgi.call_with_body_limit).
    """

    async def __call__(self, scope, receive, send):
        # Bodies are cut off at their route's limit as they stream in (413), before Django buffers them.
        await call_with_body_limit(super().__call__, scope, receive, send)

    def load_middleware(self, is_async=False):
        super().load_middleware(is_async=False)

    async def run_get_response(self, request):
        """Run the sync middleware chain and the view in one hop to the request's thread."""
        response = await sync_to_async(self.get_response, thread_sensitive=True)(request)
        response._handler_class = self.__class__
        # As Django's handler does: the server chunks the body, so read files in large blocks.
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        return response

    async def send_response(self, response, send):
        if response.streaming and not response.is_async:
            response.streaming_content = _pulled_one_by_one(iter(response.streaming_content))
        return await super().send_response(response, send)


def _django_http_application() -> StreamingASGIHandler:
    import django

    django.setup(set_prefix=False)
    return StreamingASGIHandler()


# Set up Django (app registry, settings) before anything imports models.
django_asgi_app = _django_http_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from messaging.routing import websocket_urlpatterns  # noqa: E402

# No origin check: sockets authenticate with a bearer token, never with cookies, so a foreign
# page cannot borrow a visitor's credentials (the cross-site WebSocket hijacking case).
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": URLRouter(websocket_urlpatterns),
    }
)
