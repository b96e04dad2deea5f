"""The soak's own stores: a PostgreSQL cluster and a redis-server on spare loopback ports.

Never the machine's shared services: each lives in the soak's temporary directory, answers on a
port nobody else uses, and is stopped (and its files removed) when the soak ends, also on Ctrl-C.
"""

import glob
import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port nothing listens on right now (the kernel picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _postgres_bin() -> Path:
    """The newest PostgreSQL server binaries installed (Debian keeps them out of PATH)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name))
    if not candidates:
        found = shutil.which("initdb")
        if not found:
            raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are needed: apt-get install postgresql")
        return Path(found).parent
    return Path(candidates[-1]).parent


class PostgresCluster:
    """A throwaway PostgreSQL cluster: trust auth, TCP on 127.0.0.1:<port>, its socket in its own directory."""

    def __init__(self, root: Path, *, max_connections: int = 200):
        self.bin = _postgres_bin()
        self.root = root / "postgresql"
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.log = self.root / "postgresql.log"
        self.port = free_port()
        self.max_connections = max_connections
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres"
        self.initialized = False
        # PostgreSQL refuses to run as root: then the cluster belongs to the `postgres` account.
        self._account = pwd.getpwnam("postgres") if os.geteuid() == 0 else None

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        kwargs = {}
        if self._account is not None:
            kwargs = {"user": self._account.pw_uid, "group": self._account.pw_gid}
        # Own session: a Ctrl-C meant for the soak never reaches the cluster; the soak stops it.
        return subprocess.run(args, capture_output=True, text=True, check=check, start_new_session=True, **kwargs)

    def init(self) -> None:
        """initdb into the soak's directory (trust auth, UTF-8)."""
        self.socket_dir.mkdir(parents=True)
        if self._account is not None:
            self.root.parent.chmod(0o755)
            for path in (self.root, self.socket_dir):
                os.chown(path, self._account.pw_uid, self._account.pw_gid)
        self._run(str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync", "--no-instructions")
        self.initialized = True

    def start(self, *, wait: bool = True, setup: bool = False) -> None:
        """Start the server; with `wait`, return once it accepts connections.

        `setup`: without fsync, for migrating and seeding only (the soak restarts it with the
        defaults before the load: a clean stop leaves everything written).
        """
        options = f"-p {self.port} -k {self.socket_dir} -c listen_addresses=127.0.0.1 -c max_connections={self.max_connections}"
        if setup:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-o", options, "-W", "start")
        if wait:
            self.wait_ready(timeout=60)

    def accepts(self) -> bool:
        """Whether a new connection succeeds right now (what the app's pool needs)."""
        import psycopg

        try:
            with psycopg.connect(self.url, connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def wait_ready(self, *, timeout: float, poll: float = 0.02) -> float:
        """Poll until a connection succeeds; return the monotonic time it first did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.accepts():
                return time.monotonic()
            time.sleep(poll)
        raise RuntimeError(f"PostgreSQL on port {self.port} did not accept connections in {timeout:g} s; see {self.log}")

    def stop(self, mode: str = "fast") -> None:
        """pg_ctl stop (fast: backends are terminated at once; immediate: no shutdown checkpoint either)."""
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def running(self) -> bool:
        return self.initialized and self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "status", check=False).returncode == 0

    def cleanup(self) -> None:
        """Stop the cluster if it runs (immediately: its data is thrown away)."""
        if self.running():
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "-t", "30", "stop", check=False)


class RedisInstance:
    """A throwaway redis-server: no persistence (`--save "" --appendonly no`), loopback only."""

    def __init__(self, root: Path):
        self.root = root / "redis"
        self.root.mkdir(parents=True)
        self.port = free_port()
        self.log = self.root / "redis.log"
        self.process: subprocess.Popen | None = None

    def url(self, db: int) -> str:
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self, *, wait: bool = True) -> None:
        binary = shutil.which("redis-server")
        if not binary:
            raise RuntimeError("redis-server is needed: apt-get install redis-server")
        command = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--dir", str(self.root), "--logfile", str(self.log), "--daemonize", "no"]  # fmt: skip
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        if wait:
            self.wait_ready(timeout=30)

    def accepts(self) -> bool:
        import redis

        client = redis.Redis(host="127.0.0.1", port=self.port, socket_connect_timeout=1, socket_timeout=1)
        try:
            return bool(client.ping())
        except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError):
            return False
        finally:
            client.close()

    def wait_ready(self, *, timeout: float, poll: float = 0.02) -> float:
        """Poll until PING answers; return the monotonic time it first did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}; see {self.log}")
            if self.accepts():
                return time.monotonic()
            time.sleep(poll)
        raise RuntimeError(f"redis-server on port {self.port} did not answer PING in {timeout:g} s; see {self.log}")

    def stop(self) -> None:
        """SHUTDOWN NOSAVE, then wait for the process to exit."""
        # A bare socket: redis-py retries a command whose connection closes, and SHUTDOWN closes it.
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"*2\r\n$8\r\nSHUTDOWN\r\n$6\r\nNOSAVE\r\n")
            try:
                sock.recv(1024)  # nothing comes back: the server closes the connection as it exits
            except OSError:
                pass
        if self.process is not None:
            self.process.wait(timeout=30)
            self.process = None

    def cleanup(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.process = None
