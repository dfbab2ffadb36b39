"""``throttle-probe serve``: the replay server, for a host outside the censored network.

A probe connects, sends a crafted ClientHello (any SNI, plain, split, padded
or scrambled), and the server either streams the requested bytes framed as
TLS application-data records (download) or reads them and reports what
arrived when (upload).

It must never become an amplifier for strangers, nor be shut to real probes
by them, so:

* nothing is sent before the ClientHello proves the shared secret
  (``replaywire.authenticate``); a failed proof is closed in silence;
* a connection is admitted in stages, each bounded. All open connections
  together stay under ``max_connections`` (derived from the file-descriptor
  limit); the rest are closed at once. Each source address gets
  ``sessions_per_minute`` connections (a token bucket, counted before
  anything is read, so guessing is slow too; the table of addresses is
  bounded). Until its ClientHello proves the secret, a connection is
  *pending*: at most ``max_pending`` of them, ``pending_per_source`` per
  address, each with ``hello_timeout`` to deliver its ClientHello. Only an
  authenticated session takes one of the ``max_sessions`` slots, so
  connections that never authenticate cannot starve the real probes;
* a refused connection gets a plain close at once (its FIN), and what it still
  sends is read and dropped for at most a second, so that the close is not a
  reset (which a probe would read as an on-path device blocking the name);
* a session moves at most ``max_session_bytes`` in either direction (a
  request for more is refused whole, so a cut stream never reads as
  throttling), and lasts at most the protocol's ``MAX_SESSION_SECONDS`` plus
  the read time-outs, so it never ends before the probe's own deadline;
* every read waits at most ``read_timeout`` and every write drains within it;
* each ClientHello works once, across restarts too (the nonce journal);
* the log says who, what and how much, never the secret or the ClientHello;
  connections closed at the connection limit, and a full file-descriptor
  table, get one summary line every ten seconds rather than one each.
"""

import asyncio
import contextlib
import errno
import logging
import os
import resource
import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probe.measure.body import BodyEnd, read_body
from probe.measure.clienthello import invert
from probe.measure.replaywire import (
    ACCEPT_SIZE,
    CHANGE_CIPHER_SPEC,
    MAX_HELLO,
    MAX_RECORD_PAYLOAD,
    MAX_SESSION_SECONDS,
    MAX_UPLOAD_SECONDS,
    RECORD_HEADER,
    NonceCache,
    Request,
    UploadReport,
    authenticate,
    encode_report,
    framed_size,
    hello_header,
    record_header,
)
from probe.measure.sampler import ByteCounter, Sampler
from probe.measure.timing import Clock
from probe.records import ByteSample, Direction
from probe.wording import host_port, os_reason

log = logging.getLogger("throttle-probe.serve")
MAX_REPORT_SAMPLES = 500  # keeps the report inside one 16 KiB record
UPLOAD_READ_SIZE = 256 * 1024
REFUSAL_GRACE = 1.0  # seconds a refused connection may still send (and be ignored)


@dataclass(frozen=True)
class ServerLimits:
    max_session_bytes: int = 16 * 1024 * 1024
    max_sessions: int = 32  # authenticated sessions at once
    sessions_per_minute: float = 30.0  # connections per source address
    read_timeout: float = 10.0
    hello_timeout: float = 5.0  # to deliver the whole ClientHello
    max_pending: int = 256  # connections not yet authenticated, in all
    pending_per_source: int = 4  # ... from one address
    max_connections: int | None = None  # everything open; None: from the descriptor limit

    @property
    def session_timeout(self) -> float:
        """A session's limit: the protocol's, plus room for the last reads and the report."""
        return MAX_SESSION_SECONDS + 2 * self.read_timeout

    def connection_limit(self) -> int:
        if self.max_connections is not None:
            return self.max_connections
        # Leave descriptors for the listening sockets, the journal and the log.
        soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
        return max(8, min(4096, soft - 64))


class SourceRateLimit:
    """A token bucket per source address: ``per_minute`` sessions, as many in a burst.

    The table is bounded: past ``max_addresses`` the buckets that have filled
    up again (refilled to the present first) are forgotten, as they hold
    nothing a new bucket would not, and then the least recently seen ones.
    Pruning down to three quarters keeps its cost per connection constant.
    """

    def __init__(self, per_minute: float, max_addresses: int = 10_000) -> None:
        self._capacity = max(1.0, per_minute)
        self._refill = per_minute / 60.0
        self._max = max_addresses
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # (tokens, when)

    def __len__(self) -> int:
        return len(self._buckets)

    def allow(self, address: str, now: float) -> bool:
        tokens = self._tokens(self._buckets.pop(address, None), now)
        allowed = tokens >= 1.0
        self._buckets[address] = (tokens - 1.0 if allowed else tokens, now)  # the newest
        if len(self._buckets) > self._max:
            self._prune(now)
        return allowed

    def _tokens(self, bucket: tuple[float, float] | None, now: float) -> float:
        if bucket is None:
            return self._capacity
        tokens, when = bucket
        return min(self._capacity, tokens + (now - when) * self._refill)

    def _prune(self, now: float) -> None:
        keep = self._max * 3 // 4
        full = [
            a for a, bucket in self._buckets.items() if self._tokens(bucket, now) >= self._capacity
        ]
        for address in full:
            del self._buckets[address]
        while len(self._buckets) > keep:
            self._buckets.popitem(last=False)  # the least recently seen


@dataclass
class _Session:
    peer: str
    started: float = field(default_factory=time.monotonic)
    outcome: str = "closed"
    direction: str = "-"
    scrambled: bool = False
    bytes: int = 0
    refused: bool = False  # the outcome says why: what happens while closing changes nothing

    def ended(self, outcome: str) -> None:
        if not self.refused:
            self.outcome = outcome


class _Summary:
    """One log line every ``every`` seconds for an event that may come thousands of times."""

    def __init__(self, text: str, every: float = 10.0) -> None:
        self._text = text
        self._every = every
        self._count = 0
        self._last = -every

    def happened(self) -> None:
        self._count += 1
        now = time.monotonic()
        if now - self._last >= self._every:
            log.warning(self._text, self._count)
            self._count, self._last = 0, now


class ReplayServer:
    """Serves replay sessions on one listening socket (``start``), within ``limits``."""

    def __init__(
        self, secret: bytes, limits: ServerLimits | None = None, nonce_journal: Path | None = None
    ) -> None:
        self._secret = secret
        self.limits = limits or ServerLimits()
        self._nonces = NonceCache(journal=nonce_journal)
        self._rate = SourceRateLimit(self.limits.sessions_per_minute)
        self._connection_limit = self.limits.connection_limit()
        self._open = 0  # connections open now
        self._pending: Counter[str] = Counter()  # not yet authenticated, by address
        self._active = 0  # authenticated sessions
        self._over_limit = _Summary(
            "%d connections closed at once: the connection limit is reached"
        )
        self._no_descriptors = _Summary(
            "out of file descriptors (%d times): accepting pauses for a second each time"
        )
        block = os.urandom(MAX_RECORD_PAYLOAD)  # incompressible, like an encrypted stream
        self._records = {
            False: record_header(MAX_RECORD_PAYLOAD) + block,
            True: invert(record_header(MAX_RECORD_PAYLOAD) + block),
        }

    async def start(self, host: str, port: int) -> asyncio.Server:
        self._quiet_accept_errors(asyncio.get_running_loop())
        return await asyncio.start_server(self.handle, host, port, reuse_address=True, backlog=1024)

    def _quiet_accept_errors(self, loop: asyncio.AbstractEventLoop) -> None:
        """asyncio logs a traceback each time accept() finds no free descriptor; say it once."""
        previous = loop.get_exception_handler()

        def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
            if str(context.get("message", "")).startswith("socket.accept() out of system resource"):
                self._no_descriptors.happened()
            elif previous is not None:
                previous(loop, context)
            else:
                loop.default_exception_handler(context)

        loop.set_exception_handler(handler)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._open >= self._connection_limit:
            writer.transport.abort()  # a flood: no reading, no log line each
            self._over_limit.happened()
            return
        self._open += 1
        peer = writer.get_extra_info("peername") or ("?", 0)
        session = _Session(f"{peer[0]}:{peer[1]}")
        try:
            await self._admit(reader, writer, session, str(peer[0]))
        except TimeoutError:
            session.ended("timeout")
        except (OSError, asyncio.IncompleteReadError):  # resets, and closes mid-read
            session.ended("connection_lost")
        except asyncio.CancelledError:
            session.ended("server_stopped")  # the task ends here: nothing awaits it
        finally:
            self._open -= 1
            writer.close()
            self._log(session)

    async def _admit(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: _Session,
        address: str,
    ) -> None:
        """The stages: rate limit, pending (until authenticated), a session slot."""
        if not self._rate.allow(address, time.monotonic()):
            await self._refuse(reader, writer, session, "rate_limited")
            return
        pending = self._pending
        if sum(pending.values()) >= self.limits.max_pending or (
            pending[address] >= self.limits.pending_per_source
        ):
            await self._refuse(reader, writer, session, "too_many_pending")
            return
        pending[address] += 1
        try:
            request = await self._read_request(reader, session)
        finally:
            pending[address] -= 1
            if pending[address] <= 0:
                del pending[address]
        if request is None:
            return
        if self._active >= self.limits.max_sessions:
            await self._refuse(reader, writer, session, "busy")
            return
        self._active += 1
        try:
            async with asyncio.timeout(self.limits.session_timeout):
                await self._serve(reader, writer, request, session)
        finally:
            self._active -= 1

    async def _refuse(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        session: _Session,
        why: str,
    ) -> None:
        """Close at once with a FIN; drop what the client still sends for a second.

        Closing a socket with unread data sends a reset, and a probe reads a
        reset after its ClientHello as an on-path device blocking the name.
        """
        session.outcome, session.refused = why, True
        with contextlib.suppress(OSError):
            writer.write_eof()
        with contextlib.suppress(TimeoutError, OSError):
            async with asyncio.timeout(REFUSAL_GRACE):
                while await reader.read(RECORD_HEADER + MAX_HELLO):
                    pass

    async def _read_hello(self, reader: asyncio.StreamReader) -> tuple[bool, bytes] | None:
        """(scrambled, the ClientHello record un-inverted), or None if it is not one."""
        header = await reader.readexactly(RECORD_HEADER)
        if header == CHANGE_CIPHER_SPEC[:RECORD_HEADER]:
            # A record before the ClientHello (an evasion the probe tries): passed over.
            await reader.readexactly(len(CHANGE_CIPHER_SPEC) - RECORD_HEADER)
            header = await reader.readexactly(RECORD_HEADER)
        parsed = hello_header(header)
        if parsed is None:
            return None
        scrambled, length = parsed
        plain_header = invert(header) if scrambled else header
        body = _plain(await reader.readexactly(length), scrambled)  # a split one joins here
        # A ClientHello fragmented over several records (an evasion the probe tries):
        # the handshake message's own length says how much more to read.
        while len(body) < min(4 + int.from_bytes(body[1:4], "big"), MAX_HELLO):
            more = hello_header(await reader.readexactly(RECORD_HEADER))
            if more is None or more[0] != scrambled:
                return None
            body += _plain(await reader.readexactly(more[1]), scrambled)
        return scrambled, plain_header[:3] + len(body).to_bytes(2, "big") + body

    async def _read_request(
        self, reader: asyncio.StreamReader, session: _Session
    ) -> Request | None:
        try:
            async with asyncio.timeout(self.limits.hello_timeout):
                hello = await self._read_hello(reader)
        except TimeoutError:
            session.outcome = "hello_timeout"
            return None
        if hello is None:
            session.outcome = "not_a_client_hello"
            return None
        session.scrambled, record = hello
        request = authenticate(self._secret, record, self._nonces)
        if request is None:
            session.outcome = "unauthenticated"
        return request

    async def _serve(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
        session: _Session,
    ) -> None:
        session.direction = request.direction.value
        if request.bytes > self.limits.max_session_bytes or request.seconds > MAX_UPLOAD_SECONDS:
            session.outcome = "over_cap"  # refused whole: a part would read as throttling
            return
        if request.direction == Direction.DOWNLOAD:
            await self._send(writer, framed_size(request.bytes), session)
        else:
            await self._receive(reader, writer, request, session)

    async def _send(self, writer: asyncio.StreamWriter, wire_bytes: int, session: _Session) -> None:
        full = self._records[session.scrambled]
        while session.bytes < wire_bytes:
            chunk = full[: wire_bytes - session.bytes]
            if len(chunk) < len(full):  # the last, shorter record gets its own header
                payload = full[RECORD_HEADER : len(chunk)]
                chunk = self._maybe_invert(record_header(len(payload)), session) + payload
            writer.write(chunk)
            session.bytes += len(chunk)
            async with asyncio.timeout(self.limits.read_timeout):
                await writer.drain()
        session.outcome = "ok"

    async def _receive(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        request: Request,
        session: _Session,
    ) -> None:
        """Accept; read the upload until done, settled or out of time; report; drain the rest."""
        accept = record_header(ACCEPT_SIZE) + os.urandom(ACCEPT_SIZE)
        writer.write(self._maybe_invert(accept, session))
        counter = ByteCounter(Clock())
        sampler = Sampler(counter, writer.get_extra_info("socket"))
        sampler.start()
        try:
            stop = await self._read_upload(reader, request, counter, sampler, session)
        finally:
            sampler.stop()
        samples = [(s.t, s.bytes) for s in _thin(sampler.samples)]
        report = encode_report(UploadReport(counter.bytes, samples, stop))
        writer.write(self._maybe_invert(record_header(len(report)) + report, session))
        async with asyncio.timeout(self.limits.read_timeout):
            await writer.drain()
        session.outcome = "ok"
        # The probe stops sending when the report arrives; what it had in flight
        # is read and dropped, so that closing does not reset the report away.
        if stop in ("plateau", "deadline"):
            await self._discard(reader, framed_size(request.bytes) - counter.bytes)

    async def _read_upload(
        self,
        reader: asyncio.StreamReader,
        request: Request,
        counter: ByteCounter,
        sampler: Sampler,
        session: _Session,
    ) -> str:
        """Why the upload ended: complete, plateau, deadline, stall or closed."""
        wire_bytes = framed_size(request.bytes)
        loop = asyncio.get_running_loop()
        ends = loop.time() + request.seconds

        async def chunks() -> AsyncIterator[bytes]:
            while True:
                wait = min(self.limits.read_timeout, ends - loop.time())
                async with asyncio.timeout(max(0.0, wait)):
                    data = await reader.read(min(UPLOAD_READ_SIZE, wire_bytes - counter.bytes))
                if not data:
                    return
                yield data

        def arrived(total: int) -> None:
            session.bytes = total  # kept as it grows: a session cut short logs what came

        plateau = request.stop_at_plateau
        try:
            end = await read_body(chunks(), counter, sampler, wire_bytes, plateau, arrived)
        except TimeoutError:
            return "deadline" if loop.time() >= ends else "stall"
        return {BodyEnd.LIMIT: "complete", BodyEnd.PLATEAU: "plateau", BodyEnd.END: "closed"}[end]

    async def _discard(self, reader: asyncio.StreamReader, most: int) -> None:
        with contextlib.suppress(TimeoutError, ConnectionError):
            while most > 0:
                data = await self._read_some(reader, most)
                if not data:
                    return
                most -= len(data)

    async def _read_some(self, reader: asyncio.StreamReader, remaining: int) -> bytes:
        async with asyncio.timeout(self.limits.read_timeout):
            return await reader.read(min(UPLOAD_READ_SIZE, remaining))

    @staticmethod
    def _maybe_invert(data: bytes, session: _Session) -> bytes:
        return invert(data) if session.scrambled else data

    @staticmethod
    def _log(session: _Session) -> None:
        seconds = time.monotonic() - session.started
        kind = "scrambled" if session.scrambled else "plain"
        log.info(
            "%s %s %s %s %d bytes in %.1f s",
            session.peer,
            session.outcome,
            session.direction,
            kind,
            session.bytes,
            seconds,
        )


def _thin(samples: list[ByteSample], limit: int = MAX_REPORT_SAMPLES) -> list[ByteSample]:
    """At most ``limit`` samples, evenly chosen, the first and last kept."""
    if len(samples) <= limit:
        return samples
    step = (len(samples) - 1) / (limit - 1)
    return [samples[round(i * step)] for i in range(limit)]


def listen_error(error: OSError, host: str, port: int) -> str:
    """One sentence for a socket that cannot be opened."""
    where = host_port(host, port)
    if error.errno == errno.EADDRINUSE:
        return f"Cannot listen on {where}: the port is already in use."
    if error.errno == errno.EACCES:
        return (
            f"Cannot listen on {where}: ports below 1024 need root or CAP_NET_BIND_SERVICE "
            "(or choose another --port)."
        )
    return f"Cannot listen on {where}: {os_reason(error)}."


def _plain(data: bytes, scrambled: bool) -> bytes:
    return invert(data) if scrambled else data
