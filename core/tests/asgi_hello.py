"""Minimal ASGI and WSGI applications for tests that run a real gunicorn with the project's worker classes."""


async def app(scope, receive, send):
    """Answer every HTTP request with 200 `ok`; accept the lifespan protocol."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-type", b"text/plain")]})
    await send({"type": "http.response.body", "body": b"ok"})


def wsgi_app(environ, start_response):
    """Answer every request with 200 `ok` (WSGI)."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


def wsgi_pid_app(environ, start_response):
    """Answer after 5 ms of work with the serving process's pid (which worker holds a connection)."""
    import os
    import time

    time.sleep(0.005)
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
