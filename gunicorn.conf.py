"""Gunicorn settings for the web container; every knob comes from the environment."""

import glob
import multiprocessing
import os


def _int_env(name: str, default: int) -> int:
    """Read an integer from the environment."""
    return int(os.environ.get(name) or default)


bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
# WEB_CONCURRENCY is the de-facto name platforms set; without it, the classic 2 × CPUs + 1.
workers = _int_env("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1)
# WSGI (config.wsgi) for HTTP: core.wsgi_worker.ThreadWorker, gunicorn's threaded worker with its
# database pool filled before it accepts; measured 1.46x the requests of the ASGI worker on the same
# code (docs/performance.md, "Server comparison"), and a database outage answers 503 at once
# (core/db/postgresql: the pool's fast-fail) instead of queueing behind the pool checkout.
# WebSockets (/ws) and the AI chat's streams go to the ASGI server, the same file with
# GUNICORN_WORKER_CLASS=core.asgi_worker.UvicornWorker serving config.asgi (the compose `asgi`
# service; the proxy split is in docs/operations.md). Gunicorn manages both: recycling,
# timeouts, shared metrics.
worker_class = os.environ.get("GUNICORN_WORKER_CLASS") or "core.wsgi_worker.ThreadWorker"
# Threads per threaded (WSGI) worker; measured fastest at 1 (4 lost half to the GIL): scale with
# WEB_CONCURRENCY instead. The uvicorn workers ignore it.
threads = _int_env("GUNICORN_THREADS", 1)
timeout = _int_env("GUNICORN_TIMEOUT", 30)
graceful_timeout = _int_env("GUNICORN_GRACEFUL_TIMEOUT", 30)
# Seconds an idle keep-alive connection is kept (uvicorn's timeout_keep_alive). Keep it below the
# proxy's or load balancer's idle timeout, so the server never closes a connection the proxy is
# about to reuse.
keepalive = _int_env("GUNICORN_KEEPALIVE", 5)
# Recycle workers now and then so a slow leak cannot grow without bound, but rarely: each recycle
# closes the worker's keep-alive connections, and 1000 recycled a worker every ~15 s under load
# (issue 19), and each new worker boots Django (2-3 s of CPU). 30000 is several minutes per WSGI
# worker at full load (one serves ~2x the ASGI worker's requests; at 10000, `make soak` saw two
# recycles inside its 20 s Redis outage cost it ~10 % of the throughput); 0 turns recycling off. The jitter
# (default 20%) spreads recycles so workers never restart together; a recycling worker stops
# accepting, finishes its requests within graceful_timeout, and the others keep serving.
max_requests = _int_env("GUNICORN_MAX_REQUESTS", 30000)
max_requests_jitter = _int_env("GUNICORN_MAX_REQUESTS_JITTER", max_requests // 5)
# Heartbeat files on tmpfs: a container's overlay disk can stall and get workers killed.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# No gunicornc control socket: nobody manages workers from inside the container, and the
# app user's home is read-only (gunicorn would only warn that it cannot create it).
control_socket_disable = True
# No server setting may let a client choose its own IP: the uvicorn workers ignore X-Forwarded-*
# (proxy_headers off), and the app reads X-Forwarded-For itself, trusting NUM_PROXIES hops from
# the right (core.http.client_ip), and the scheme through SECURE_PROXY_SSL_HEADER. This only
# matters to gunicorn's own (WSGI) workers, which take the scheme from these peers; never "*".
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

loglevel = os.environ.get("LOG_LEVEL", "info").lower()
errorlog = "-"
accesslog = "-"
# The X-Request-ID the app put on the response ties each access line to the app's own log lines.
# Credentials in query strings (`/ws?token=...`) are redacted by core.logging.SecretRedactionFilter,
# which the app puts on gunicorn's and uvicorn's access loggers (core/apps.py).
access_log_format = '%(h)s "%(r)s" %(s)s %(b)s %(M)sms request_id=%({x-request-id}o)s "%(f)s" "%(a)s"'

# Prometheus: each worker is its own process, so /metrics would report whichever worker answered.
# prometheus_client's multiprocess mode shares the numbers through files in one directory.
_METRICS_DIR_DEFAULT = "/tmp/prometheus-multiproc"


def on_starting(server):
    """Give the workers one shared metrics directory, emptied of a previous run's files."""
    # Set here, in the master only, so importing this file (tests, --check-config) changes nothing.
    path = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", _METRICS_DIR_DEFAULT)
    os.makedirs(path, exist_ok=True)
    for stale in glob.glob(os.path.join(path, "*.db")):
        os.remove(stale)


def child_exit(server, worker):
    """Drop a dead worker's live gauges from the shared metrics."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)
