"""A webhook receiver for the contract run: a real HTTP server on loopback that records
every request it gets (path, headers, raw body) and answers 200 -- or, while it has a
script of answers for that path, the next of those (500s, a redirect, a 503 with
Retry-After, ...). Standard library only; used by contract/webhooks_e2e.py.

Each endpoint under test posts to its own path (`/hook/<name>`), so the deliveries of
several endpoints can be told apart, and scripts are set per path. Nothing here verifies
a signature: the test does that with the PyPI `standardwebhooks` library, on exactly the
bytes and headers recorded here.
"""

from __future__ import annotations

import http.server
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Delivery:
    """One request as it arrived."""

    path: str
    method: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    received_at: float  # time.monotonic()
    answered: int = 0

    @property
    def webhook_id(self) -> str:
        return self.headers.get("webhook-id", "")


@dataclass
class _State:
    lock: threading.Lock = field(default_factory=threading.Lock)
    got: list[Delivery] = field(default_factory=list)
    # path -> the answers still to give, in order: (status, headers, body)
    script: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    arrived: threading.Condition | None = None


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as a real receiver would allow
    server: _Server

    def log_message(self, format: str, *args) -> None:
        pass

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            out = bytearray()
            while True:
                size = int(self.rfile.readline().split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return bytes(out)
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self, status: int, headers: dict[str, str], payload: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/plain")
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def _record(self) -> None:
        body = self._read_body()
        delivery = Delivery(
            path=self.path,
            method=self.command,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            received_at=time.monotonic(),
        )
        state = self.server.state
        with state.lock:
            queue = state.script.get(self.path) or []
            status, headers, payload = queue.pop(0) if queue else (200, {}, b"ok")
            delivery.answered = status
            state.got.append(delivery)
        with state.arrived:
            state.arrived.notify_all()
        self._answer(status, headers, payload)

    do_POST = _record
    do_PUT = _record
    do_GET = _record


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class Receiver:
    """`with Receiver() as r:` serves on 127.0.0.1, a port the system picks."""

    def __init__(self) -> None:
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.state = _State()
        self._server.state.arrived = threading.Condition()
        self._thread = threading.Thread(target=self._server.serve_forever, name="receiver", daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/hook/{name}"

    def answer_next(self, name: str, answers: list[tuple[int, dict[str, str], bytes]]) -> None:
        """Give these answers, in order, to the next requests on `/hook/<name>` (then 200s)."""
        with self._server.state.lock:
            self._server.state.script[f"/hook/{name}"] = list(answers)

    def fail_next(self, name: str, count: int) -> None:
        """Answer 500 to the next `count` requests on `/hook/<name>`."""
        self.answer_next(name, [(500, {}, b"receiver is failing on purpose")] * count)

    def got(self, name: str | None = None) -> list[Delivery]:
        """The requests so far (on `/hook/<name>` only, when given), in arrival order."""
        with self._server.state.lock:
            items = list(self._server.state.got)
        if name is None:
            return items
        return [d for d in items if d.path == f"/hook/{name}"]

    def wait(self, predicate, timeout: float) -> bool:
        """Waits until `predicate(self)` holds (re-checked on every arrival and every 0.2 s)."""
        deadline = time.monotonic() + timeout
        cond = self._server.state.arrived
        while True:
            if predicate(self):
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            with cond:
                cond.wait(min(left, 0.2))
