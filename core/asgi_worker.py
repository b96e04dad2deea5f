"""The gunicorn worker class of the web container (gunicorn.conf.py `worker_class`).

Imported by the gunicorn master before Django is set up: nothing here may touch Django.
"""

from uvicorn_worker import UvicornWorker as _UvicornWorker


class UvicornWorker(_UvicornWorker):
    """uvicorn's gunicorn worker with forwarded headers ignored by the server.

    With proxy headers on, uvicorn replaces the peer address with the left-most
    X-Forwarded-For entry (which the client writes) for every trusted peer, and compose trusted
    `*`: a client chose its own IP for lockouts and throttles. The app reads X-Forwarded-For
    itself, right to left for NUM_PROXIES hops (core.http.client_ip), and the scheme from
    X-Forwarded-Proto (SECURE_PROXY_SSL_HEADER); the server must leave both alone.
    """

    CONFIG_KWARGS = {**_UvicornWorker.CONFIG_KWARGS, "proxy_headers": False}
