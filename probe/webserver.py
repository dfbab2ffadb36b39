"""The daemon's HTTP endpoint: a landing page, /metrics, a health check, archived rounds.

It runs in threads of its own beside the measuring event loop, so a scrape
never waits for a measurement and a busy round never delays a scrape. The
rendered metrics are cached until the state changes (``generation``) or for
``CACHE_SECONDS`` (process metrics move on their own): two hundred scrapers
at once then cost one rendering, not two hundred.

With a web config (``webconfig``), connections are TLS (the handshake runs
in the connection's own thread, with a time-out, so a slow client holds up
nobody) and every request but the health check needs basic auth. A wrong or
missing password gets 401 and no metric. Checked passwords are remembered
(by a salted digest) because bcrypt is slow on purpose: tens of milliseconds
a check, per scrape, would be the server's main cost.
"""

import hashlib
import hmac
import html
import json
import os
import socket
import ssl
import threading
import time
from base64 import b64decode
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from probe.webconfig import WebConfig

CACHE_SECONDS = 1.0
CONNECTION_TIMEOUT = 10.0  # seconds a client may take for its handshake or its request


@dataclass(frozen=True)
class Status:
    """What the landing page says."""

    version: str
    probe_id: str | None
    last_round: float | None  # Unix time the latest round finished
    paused: bool  # the data budget is spent


MetricsRenderer = Callable[[str], tuple[bytes, str]]  # Accept header -> (body, content type)
RoundFinder = Callable[[str], dict[str, Any] | None]  # round id -> its archive entry


class _CachedMetrics:
    """One rendering per state and content type, at most ``CACHE_SECONDS`` old."""

    def __init__(self, render: MetricsRenderer, generation: Callable[[], int]) -> None:
        self._render = render
        self._generation = generation
        self._lock = threading.Lock()
        self._cache: dict[str, tuple[float, int, bytes, str]] = {}

    def get(self, accept: str) -> tuple[bytes, str]:
        with self._lock:
            now, generation = time.monotonic(), self._generation()
            kind = "openmetrics" if "application/openmetrics-text" in accept else "text"
            cached = self._cache.get(kind)
            if cached is None or cached[1] != generation or now - cached[0] > CACHE_SECONDS:
                body, content_type = self._render(accept)
                cached = (now, generation, body, content_type)
                self._cache[kind] = cached
            return cached[2], cached[3]


class _Passwords:
    """bcrypt checks, each right answer remembered by a salted digest."""

    def __init__(self, users: dict[str, bytes]) -> None:
        self._users = users
        # Checked when the user is unknown, so that both cases take as long.
        self._dummy = _bcrypt_hash(os.urandom(16)) if users else b""
        self._salt = os.urandom(16)
        self._known: set[bytes] = set()
        self._lock = threading.Lock()

    @property
    def required(self) -> bool:
        return bool(self._users)

    def check(self, header: str | None) -> bool:
        import bcrypt

        user, password = _basic_credentials(header)
        if user is None or password is None:
            return False
        digest = hmac.new(self._salt, f"{user}\0{password}".encode(), hashlib.sha256).digest()
        with self._lock:
            if digest in self._known:
                return True
        hashed = self._users.get(user)
        ok = bcrypt.checkpw(password.encode(), hashed or self._dummy) and hashed is not None
        if ok:
            with self._lock:
                if len(self._known) > 1000:
                    self._known.clear()
                self._known.add(digest)
        return ok


def _bcrypt_hash(password: bytes) -> bytes:
    import bcrypt

    return bytes(bcrypt.hashpw(password, bcrypt.gensalt(10)))


def _basic_credentials(header: str | None) -> tuple[str | None, str | None]:
    if header is None or not header.startswith("Basic "):
        return None, None
    try:
        user, _, password = b64decode(header[6:], validate=True).decode().partition(":")
    except (ValueError, UnicodeDecodeError):
        return None, None
    return user, password


class MetricsServer(ThreadingHTTPServer):
    """``/`` (landing page), ``/metrics``, ``/-/healthy``; TLS and auth per the web config."""

    daemon_threads = True
    request_queue_size = 256  # many scrapers may connect at once

    def __init__(
        self,
        address: tuple[str, int],
        render: MetricsRenderer,
        generation: Callable[[], int],
        status: Callable[[], Status],
        web: WebConfig | None = None,
        find_round: RoundFinder | None = None,
    ) -> None:
        self.metrics = _CachedMetrics(render, generation)
        self.find_round = find_round  # None: no --archive
        # One archive scan at a time: a scan reads the archive's files, and many
        # at once would take the CPU from the measurements.
        self.scanning = threading.Lock()
        self.status = status
        self.passwords = _Passwords(web.users if web else {})
        self.ssl_context = web.ssl_context if web else None
        family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        self.address_family = family
        super().__init__(address, _Handler)

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        sock.settimeout(CONNECTION_TIMEOUT)
        if self.ssl_context is not None:
            # The handshake happens in the connection's thread (see _Handler.setup).
            sock = self.ssl_context.wrap_socket(
                sock, server_side=True, do_handshake_on_connect=False
            )
        return sock, address

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that hangs up or fails its handshake is its own problem

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="metrics-http", daemon=True)
        thread.start()
        return thread


class _Handler(BaseHTTPRequestHandler):
    server: MetricsServer
    protocol_version = "HTTP/1.1"
    timeout = CONNECTION_TIMEOUT

    def setup(self) -> None:
        if isinstance(self.request, ssl.SSLSocket):
            self.request.do_handshake()
        super().setup()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/-/healthy":
            self._send(200, b"OK\n", "text/plain; charset=utf-8")
            return
        if self.server.passwords.required and not self.server.passwords.check(
            self.headers.get("Authorization")
        ):
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="throttle-probe"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if path == "/metrics":
            body, content_type = self.server.metrics.get(self.headers.get("Accept", ""))
            self._send(200, body, content_type)
        elif path == "/":
            self._send(200, _landing_page(self.server.status()), "text/html; charset=utf-8")
        elif path.startswith("/rounds/"):
            self._send_round(path.removeprefix("/rounds/"))
        else:
            self._send(404, b"Not found: try /metrics\n", "text/plain; charset=utf-8")

    def _send_round(self, round_id: str) -> None:
        """The archived entry of a round, where a panel's exemplar (its round_id) leads."""
        if self.server.find_round is None:
            text = b"No archive: start the daemon with --archive DIR to keep rounds.\n"
            self._send(404, text, "text/plain; charset=utf-8")
            return
        if not self.server.scanning.acquire(blocking=False):
            self.send_response(503)
            self.send_header("Retry-After", "1")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        try:
            entry = self.server.find_round(round_id)
        finally:
            self.server.scanning.release()
        if entry is None:
            text = f"No round {round_id[:32]!r} in the archive.\n".encode()
            self._send(404, text, "text/plain; charset=utf-8")
            return
        body = json.dumps(entry, indent=1).encode()
        self._send(200, body, "application/json")

    def _send(self, code: int, body: bytes, content_type: str) -> None:
        self.send_response(code)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # one line per scrape would drown the measurement log


def _landing_page(status: Status) -> bytes:
    if status.last_round is None:
        last = "not yet: the first round is under way"
    else:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(status.last_round))
        last = f"{when} ({time.time() - status.last_round:.0f} s ago)"
    paused = "<p>Measuring is paused: the daily data budget is spent.</p>" if status.paused else ""
    probe = f" ({html.escape(status.probe_id)})" if status.probe_id else ""
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>throttle-probe</title></head>
<body>
<h1>throttle-probe {html.escape(status.version)}{probe}</h1>
<p>Last measured: {html.escape(last)}</p>
{paused}
<ul>
<li><a href="metrics">Metrics</a></li>
<li><a href="-/healthy">Health</a></li>
</ul>
</body></html>
""".encode()
