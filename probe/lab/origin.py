"""A small, fast HTTP/1.1 origin server over TLS whose paths choose its behaviour.

One thread per connection keeps every behaviour (stall, reset, hang) a few
plain lines, and ``SSLSocket.sendall`` encrypts in C with the GIL released, so
a single connection fills well over 1 Gbit/s on loopback.

Paths:

* ``/bytes/N``     200 with exactly N body bytes
* ``/status/C``    status C with a short body
* ``/redirect/C/P`` status C, redirecting to ``/P`` on the same server
* ``/moved``       301 to another host (``https://elsewhere.test/``)
* ``/reset/N``     announce more, send N bytes, then reset the connection (RST)
* ``/truncate/N``  announce 2N bytes, send N, then close cleanly (FIN)
* ``/stall/N``     send N bytes, then keep the connection open and silent
* ``/hang``        read the request and never answer
* a POST to any path: its body read and dropped, then 200 with a short text
* the default targets' paths (``/``, ``/explore``, ``/profile_banners/...``,
  ``/debian/ls-lR.gz``, ``/__down?bytes=N``): 200 with a body of the size the
  real object has (``FIELD_OBJECTS``), so that the lab measures what the
  field does: small pages for the platforms, megabytes for the controls

With ``tls_handshake=False`` the server accepts TCP connections and never
starts the TLS handshake (a middlebox that swallows the ClientHello).
"""

import contextlib
import enum
import re
import socket
import ssl
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass

BLOCK = bytes(range(256)) * 1024  # 256 KiB of a recognisable pattern
_REQUEST_LINE = re.compile(rb"^(GET|HEAD|POST) (\S+) HTTP/1\.[01]\r\n")
_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length: *(\d{1,9})\r\n", re.IGNORECASE)
_MAX_REQUEST = 16 * 1024

# Body sizes of the default targets' objects, by path prefix, as the platforms
# and mirrors served them compressed (late 2026): the platforms' are 50-300 KB,
# the controls' megabytes. The longest matching prefix wins.
FIELD_OBJECTS = {
    "/": 160_000,  # x.com's and tiktok.com's home pages
    "/explore": 220_000,
    "/profile_banners/": 90_000,  # a 1500x500 banner on pbs.twimg.com
    "/debian/ls-lR.gz": 20_000_000,
}
_DOWN = re.compile(r"^/__down\?bytes=(\d{1,10})$")  # a speed-test endpoint: N bytes


class OriginServer:
    """Serve the paths above on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        ssl_context: ssl.SSLContext | None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls_handshake: bool = True,
        backlog: int = 128,
        alt_svc: str | None = None,
    ) -> None:
        self._ssl_context = ssl_context
        self.alt_svc = alt_svc  # sent with every answer: e.g. 'h3=":443"', an HTTP/3 offer
        self._tls_handshake = tls_handshake
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self._listener = socket.socket(family, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((host, port))
        self._listener.listen(backlog)
        self.host = host
        self.port: int = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self.connections = 0  # accepted so far: tests count the connections a download used

    def start(self) -> "OriginServer":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        # shutdown() wakes the thread blocked in accept(); close() alone does not.
        with contextlib.suppress(OSError):
            self._listener.shutdown(socket.SHUT_RDWR)
        self._listener.close()
        self._thread.join(timeout=5)

    def __enter__(self) -> "OriginServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def serve_forever(self) -> None:
        """Run in the calling thread until interrupted (for the CLI and the lab)."""
        self._accept_loop()

    def _accept_loop(self) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve_connection, args=(conn,), daemon=True).start()

    def _serve_connection(self, conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with contextlib.suppress(OSError), contextlib.closing(conn):
            if not self._tls_handshake:
                self._stopping.wait()
                return
            stream: socket.socket = conn
            if self._ssl_context is not None:
                stream = self._ssl_context.wrap_socket(conn, server_side=True)
            with contextlib.closing(stream):
                self._serve_requests(stream)

    def _serve_requests(self, stream: socket.socket) -> None:
        for method, path in _read_requests(stream):
            if not self._respond(stream, method, path):
                return

    def _respond(self, stream: socket.socket, method: bytes, path: str) -> bool:
        """Answer one request; return whether the connection may carry another."""
        answer = answer_for(path) if method != b"POST" else _text(200, "received\n")
        if answer.ending == Ending.HANG:
            self._stopping.wait()
            return False
        stream.sendall(_head(answer.status, answer.announced, answer.location, self.alt_svc))
        if method != b"HEAD":
            if answer.body is not None:
                stream.sendall(answer.body)
            else:
                _send_body(stream, answer.sent)
        if answer.ending == Ending.RESET:
            _reset(stream)
        elif answer.ending == Ending.STALL:
            self._stopping.wait()
        return answer.ending == Ending.KEEP


class Ending(enum.Enum):
    """What an answer does once its bytes are sent."""

    KEEP = "keep"  # the connection may carry another request
    RESET = "reset"  # reset it (RST; on QUIC, RESET_STREAM)
    CLOSE = "close"  # close it cleanly, short of the announced length
    STALL = "stall"  # keep it open and silent
    HANG = "hang"  # never answer at all (no head either)


@dataclass(frozen=True)
class Answer:
    """What the path asks the server to do: one place for the TCP and the QUIC origin."""

    status: int
    announced: int  # the Content-Length
    sent: int  # body bytes of the pattern actually sent (when ``body`` is None)
    body: bytes | None = None  # a short text body instead of the pattern
    location: str | None = None
    ending: Ending = Ending.KEEP


def answer_for(path: str) -> Answer:
    """The answer to a GET of ``path`` (see the module's list of paths)."""
    kind, _, arg = path.strip("/").partition("/")
    number = int(arg) if arg.isdigit() else 0
    if kind == "bytes" and arg.isdigit():
        return Answer(200, number, number)
    if kind == "status" and arg.isdigit():
        return _text(number, f"status {number}\n")
    if kind in ("redirect", "moved"):
        code, _, rest = arg.partition("/")
        status, location = (int(code), f"/{rest}") if code.isdigit() else (301, "")
        location = location or "https://elsewhere.test/"
        return _text(status, f"see {location}\n", location)
    if kind in ("reset", "truncate", "stall") and arg.isdigit():
        ending = {"reset": Ending.RESET, "truncate": Ending.CLOSE, "stall": Ending.STALL}[kind]
        return Answer(200, 2 * number + 1, number, ending=ending)
    if kind == "hang":
        return Answer(0, 0, 0, ending=Ending.HANG)  # nothing is sent: no status either
    size = field_object_size(path)
    if size is not None:
        return Answer(200, size, size)
    return _text(404, "not found\n")


def _text(status: int, text: str, location: str | None = None) -> Answer:
    body = text.encode()
    return Answer(status, len(body), len(body), body, location)


def field_object_size(path: str) -> int | None:
    """The body size of a default target's object at ``path``; None for other paths."""
    down = _DOWN.match(path)
    if down is not None:
        return int(down.group(1))
    prefixes = [p for p in FIELD_OBJECTS if path == p or (p != "/" and path.startswith(p))]
    return FIELD_OBJECTS[max(prefixes, key=len)] if prefixes else None


def _read_requests(stream: socket.socket) -> Iterator[tuple[bytes, str]]:
    buffer = b""
    while True:
        while b"\r\n\r\n" not in buffer:
            chunk = stream.recv(4096)
            if not chunk or len(buffer) > _MAX_REQUEST:
                return
            buffer += chunk
        head, _, buffer = buffer.partition(b"\r\n\r\n")
        match = _REQUEST_LINE.match(head + b"\r\n")
        if match is None:
            return
        length = _CONTENT_LENGTH.search(head + b"\r\n")
        unread = int(length.group(1)) if length is not None else 0
        while len(buffer) < unread:  # a request body (a POST's): read and dropped
            unread -= len(buffer)
            buffer = stream.recv(65536)
            if not buffer:
                return
        buffer = buffer[unread:]
        yield match.group(1), match.group(2).decode("ascii", "replace")


def _head(status: int, length: int, location: str | None, alt_svc: str | None) -> bytes:
    moved = "" if location is None else f"Location: {location}\r\n"
    offer = "" if alt_svc is None else f"Alt-Svc: {alt_svc}\r\n"
    return (
        f"HTTP/1.1 {status} X\r\nContent-Length: {length}\r\n{moved}{offer}"
        "Content-Type: application/octet-stream\r\n\r\n"
    ).encode()


def _send_body(stream: socket.socket, length: int) -> None:
    view = memoryview(BLOCK)
    while length > 0:
        chunk = view[: min(length, len(BLOCK))]
        stream.sendall(chunk)
        length -= len(chunk)


def _reset(stream: socket.socket) -> None:
    # SO_LINGER with a zero timeout makes close() send RST instead of FIN.
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    stream.close()


def main(argv: list[str] | None = None) -> None:
    """Run a server in the foreground: ``python -m probe.lab.origin --cert C --key K``.

    ``--host`` may be given several times: one listener per address, all on
    the same port (the lab binds its servers' addresses, not 0.0.0.0, so that
    the replay server can have port 443 of its own address). Prints the port
    as the first line of standard output, so that a parent process that asked
    for port 0 learns which one it got.
    """
    import argparse
    import sys

    parser = argparse.ArgumentParser(description="the lab's HTTPS origin server")
    parser.add_argument("--host", action="append", help="address to listen on (repeatable)")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--cert", required=True, help="PEM certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--alt-svc", help='an Alt-Svc header for every answer: h3=":443"')
    args = parser.parse_args(argv)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(args.cert, args.key)
    first, *others = args.host or ["127.0.0.1"]
    server = OriginServer(context, first, args.port, alt_svc=args.alt_svc)
    for host in others:
        OriginServer(context, host, server.port, alt_svc=args.alt_svc).start()
    print(server.port, flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    sys.exit(0)


if __name__ == "__main__":
    main()
