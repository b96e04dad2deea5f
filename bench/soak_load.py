"""The soak's load: closed-loop clients on keep-alive connections, a readiness prober, a log tail.

Every request is recorded (`Sample`): when it started and ended (seconds since the load began),
its status or the kind of error, and for an acknowledged (2xx) write the id it created.
"""

import http.client
import json
import random
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

API = "/api/v1"
# The mix of one client's requests (weights): reads dominate, as in real use.
MIX = {
    "users_me": 25,
    "members_list": 20,
    "teams_list": 15,
    "audit_list": 15,
    "teams_create": 10,
    "invites_create": 10,
    "refresh": 5,
}
WRITES = {"teams_create": "team", "invites_create": "invite"}

TIMEOUT = "timeout"
CONNECTION = "connection"


@dataclass
class Sample:
    """One request: what, when (seconds since the load began), how it ended."""

    op: str
    client: int
    start: float
    end: float
    status: int = 0  # 0: no HTTP answer (see error)
    error: str = ""  # "", TIMEOUT or CONNECTION
    created: str = ""  # id of what an acknowledged write created
    detail: str = ""  # error code or exception class, for the report

    @property
    def latency(self) -> float:
        return self.end - self.start

    @property
    def failed(self) -> bool:
        """A server error or no answer at all (4xx are the client's own)."""
        return bool(self.error) or self.status >= 500


@dataclass
class ClientState:
    """One client's credentials: its own session and refresh token chain."""

    email: str
    password: str
    access: str
    refresh: str
    relogins: int = 0
    # Set when a refresh went unanswered: the server may have rotated the token anyway.
    refresh_unacknowledged: bool = False


@dataclass
class Run:
    """What the clients share: where to go, when the load began, what was recorded."""

    host: str
    port: int
    organization_id: str
    t0: float
    timeout: float
    stop: threading.Event = field(default_factory=threading.Event)
    samples: list[Sample] = field(default_factory=list)

    def now(self) -> float:
        return time.monotonic() - self.t0


class Client(threading.Thread):
    """A closed loop of requests (no think time) on one keep-alive connection, reconnecting after an error."""

    def __init__(self, index: int, run: Run, state: ClientState, seed: int):
        super().__init__(name=f"soak-client-{index}", daemon=True)
        self.index, self.run_, self.state = index, run, state
        self.random = random.Random(seed)
        self.connection: http.client.HTTPConnection | None = None
        self.counter = 0
        self.ops, self.weights = list(MIX), list(MIX.values())

    # --- one request -------------------------------------------------------------------

    def _connect(self) -> http.client.HTTPConnection:
        if self.connection is None:
            self.connection = http.client.HTTPConnection(self.run_.host, self.run_.port, timeout=self.run_.timeout)
        return self.connection

    def _drop(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def request(self, op: str, method: str, path: str, body: dict | None = None, *, auth: bool = True) -> tuple[Sample, dict]:
        """Send one request, record it, and return its sample and JSON body ({} when none)."""
        headers = {"Accept": "application/json", "X-Request-ID": f"soak-{self.index}-{self.counter}"}
        self.counter += 1
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        if auth:
            headers["Authorization"] = f"Bearer {self.state.access}"
        start = self.run_.now()
        sample = Sample(op=op, client=self.index, start=start, end=start)
        payload: dict = {}
        try:
            connection = self._connect()
            connection.request(method, path, body=data, headers=headers)
            response = connection.getresponse()
            raw = response.read()
            sample.status = response.status
            if response.will_close:
                self._drop()  # the server said Connection: close; the next request reconnects
            try:
                payload = json.loads(raw) if raw else {}
            except ValueError:
                payload = {}
        except TimeoutError as exc:
            sample.error, sample.detail = TIMEOUT, type(exc).__name__
            self._drop()
        except (OSError, http.client.HTTPException) as exc:
            # Refused, reset, or closed before the answer (RemoteDisconnected, BadStatusLine).
            sample.error, sample.detail = CONNECTION, type(exc).__name__
            self._drop()
        sample.end = self.run_.now()
        if isinstance(payload, dict) and isinstance(payload.get("error"), dict):
            sample.detail = str(payload["error"].get("code", ""))
        self.run_.samples.append(sample)
        return sample, payload if isinstance(payload, dict) else {}

    # --- the mix -------------------------------------------------------------------------

    def step(self) -> None:
        op = self.random.choices(self.ops, self.weights)[0]
        org = f"{API}/orgs/{self.run_.organization_id}"
        tag = f"{self.index}-{self.counter}-{self.random.randrange(1 << 30):x}"
        if op == "users_me":
            sample, _ = self.request(op, "GET", f"{API}/users/me")
        elif op == "members_list":
            sample, _ = self.request(op, "GET", f"{org}/members?limit=20")
        elif op == "teams_list":
            sample, _ = self.request(op, "GET", f"{org}/teams?limit=20")
        elif op == "audit_list":
            sample, _ = self.request(op, "GET", f"{org}/audit-logs?limit=20")
        elif op == "teams_create":
            sample, body = self.request(op, "POST", f"{org}/teams", {"name": f"soak team {tag}", "description": "made by the soak"})
            if 200 <= sample.status < 300:
                sample.created = str(body.get("id", ""))
        elif op == "invites_create":
            sample, body = self.request(op, "POST", f"{org}/invites", {"email": f"invitee-{tag}@soak.example", "role": "member"})
            if 200 <= sample.status < 300:
                sample.created = str(body.get("id", ""))
        else:
            sample = self.refresh()
        if sample.status == 401:
            # The session is gone (a refresh whose answer was lost rotated the token, and reusing
            # the old one revoked the session): sign in again, as a real client would.
            self.login()

    def refresh(self) -> Sample:
        """Rotate this client's refresh token; keep the old one unless the new pair was received."""
        sample, body = self.request("refresh", "POST", f"{API}/auth/refresh", {"refresh_token": self.state.refresh}, auth=False)
        if sample.status == 200 and body.get("refresh_token"):
            self.state.access, self.state.refresh = body["access_token"], body["refresh_token"]
            self.state.refresh_unacknowledged = False
        elif sample.error:
            self.state.refresh_unacknowledged = True
        return sample

    def login(self) -> None:
        sample, body = self.request("login", "POST", f"{API}/auth/login", {"email": self.state.email, "password": self.state.password}, auth=False)
        if sample.status == 200 and body.get("access_token"):
            self.state.access, self.state.refresh = body["access_token"], body["refresh_token"]
            self.state.relogins += 1

    def run(self) -> None:
        while not self.run_.stop.is_set():
            self.step()
        self._drop()


class ReadinessProbe(threading.Thread):
    """GET /health/ready every `interval` on a fresh connection (as an orchestrator's probe does)."""

    def __init__(self, run: Run, *, interval: float = 0.5, timeout: float = 10.0):
        super().__init__(name="soak-ready-probe", daemon=True)
        self.run_, self.interval, self.timeout = run, interval, timeout
        self.samples: list[Sample] = []

    def run(self) -> None:
        while not self.run_.stop.is_set():
            start = self.run_.now()
            sample = Sample(op="health_ready", client=-1, start=start, end=start)
            connection = http.client.HTTPConnection(self.run_.host, self.run_.port, timeout=self.timeout)
            try:
                connection.request("GET", "/health/ready", headers={"Accept": "application/json"})
                response = connection.getresponse()
                raw = response.read()
                sample.status = response.status
                try:
                    sample.detail = ",".join(json.loads(raw).get("failing", []))
                except ValueError:
                    sample.detail = ""
            except TimeoutError:
                sample.error = TIMEOUT
            except (OSError, http.client.HTTPException) as exc:
                sample.error, sample.detail = CONNECTION, type(exc).__name__
            finally:
                connection.close()
            sample.end = self.run_.now()
            self.samples.append(sample)
            self.run_.stop.wait(max(0.0, self.interval - sample.latency))


@dataclass
class LogLine:
    at: float  # seconds since the load began, when the soak read the line
    text: str


class LogTail(threading.Thread):
    """Follow the server's log file and stamp every line with the time it was read (every 50 ms)."""

    def __init__(self, path: Path, run: Run):
        super().__init__(name="soak-log-tail", daemon=True)
        self.path, self.run_ = path, run
        self.lines: list[LogLine] = []
        self.done = threading.Event()
        self._offset = path.stat().st_size if path.exists() else 0

    def _read(self) -> None:
        with self.path.open("rb") as handle:
            handle.seek(self._offset)
            chunk = handle.read()
        end = chunk.rfind(b"\n")
        if end < 0:
            return
        self._offset += end + 1
        at = self.run_.now()
        for line in chunk[: end + 1].decode(errors="replace").splitlines():
            self.lines.append(LogLine(at=at, text=line))

    def run(self) -> None:
        while not self.done.is_set():
            self._read()
            self.done.wait(0.05)
        self._read()
