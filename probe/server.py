"""``throttle-probe serve``: the replay server, for a host outside the censored network.

A probe connects, sends a crafted ClientHello (any SNI, plain, split, padded
or scrambled), and the server either streams the requested bytes framed as
TLS application-data records (download) or reads them and reports what
arrived when (upload).

It must never become an amplifier for strangers, so:

* nothing is sent before the ClientHello proves the shared secret
  (``replaywire.authenticate``); a failed proof is closed in silence;
* each source address gets ``sessions_per_minute`` connections (a token
  bucket, counted before anything is read, so guessing is slow too);
* at most ``max_sessions`` run at once; the rest are closed at once;
* a session moves at most ``max_session_bytes`` in either direction (a
  request for more is refused whole, so a cut stream never reads as throttling);
* every read waits at most ``read_timeout``, every write drains within it, and
  a whole session ends after ``session_timeout``;
* the log says who, what and how much, never the secret or the ClientHello.
"""

import asyncio
import contextlib
import errno
import logging
import os
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from probe.measure.body import BodyEnd, read_body
from probe.measure.clienthello import invert
from probe.measure.replaywire import (
    ACCEPT_SIZE,
    MAX_RECORD_PAYLOAD,
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

log = logging.getLogger("throttle-probe.serve")
MAX_REPORT_SAMPLES = 500  # keeps the report inside one 16 KiB record
UPLOAD_READ_SIZE = 256 * 1024


@dataclass(frozen=True)
class ServerLimits:
    max_session_bytes: int = 16 * 1024 * 1024
    max_sessions: int = 32
    sessions_per_minute: float = 30.0  # per source address
    read_timeout: float = 10.0
    session_timeout: float = 120.0


class SourceRateLimit:
    """A token bucket per source address: ``per_minute`` sessions, as many in a burst."""

    def __init__(self, per_minute: float) -> None:
        self._capacity = max(1.0, per_minute)
        self._refill = per_minute / 60.0
        self._buckets: dict[str, tuple[float, float]] = {}  # address -> (tokens, when)

    def allow(self, address: str, now: float) -> bool:
        tokens, when = self._buckets.get(address, (self._capacity, now))
        tokens = min(self._capacity, tokens + (now - when) * self._refill)
        allowed = tokens >= 1.0
        self._buckets[address] = (tokens - 1.0 if allowed else tokens, now)
        if len(self._buckets) > 10_000:  # forget full buckets: they hold no state worth keeping
            self._buckets = {a: b for a, b in self._buckets.items() if b[0] < self._capacity}
        return allowed


@dataclass
class _Session:
    peer: str
    started: float = field(default_factory=time.monotonic)
    outcome: str = "closed"
    direction: str = "-"
    scrambled: bool = False
    bytes: int = 0


class ReplayServer:
    """Serves replay sessions on one listening socket (``start``), within ``limits``."""

    def __init__(self, secret: bytes, limits: ServerLimits | None = None) -> None:
        self._secret = secret
        self.limits = limits or ServerLimits()
        self._nonces = NonceCache()
        self._rate = SourceRateLimit(self.limits.sessions_per_minute)
        self._active = 0
        block = os.urandom(MAX_RECORD_PAYLOAD)  # incompressible, like an encrypted stream
        self._records = {
            False: record_header(MAX_RECORD_PAYLOAD) + block,
            True: invert(record_header(MAX_RECORD_PAYLOAD) + block),
        }

    async def start(self, host: str, port: int) -> asyncio.Server:
        return await asyncio.start_server(self.handle, host, port, reuse_address=True)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        peer = writer.get_extra_info("peername") or ("?", 0)
        session = _Session(f"{peer[0]}:{peer[1]}")
        try:
            if not self._rate.allow(str(peer[0]), time.monotonic()):
                session.outcome = "rate_limited"
                await self._refuse(reader)
            elif self._active >= self.limits.max_sessions:
                session.outcome = "busy"
                await self._refuse(reader)
            else:
                self._active += 1
                try:
                    async with asyncio.timeout(self.limits.session_timeout):
                        await self._serve(reader, writer, session)
                finally:
                    self._active -= 1
        except TimeoutError:
            session.outcome = "timeout"
        except (OSError, asyncio.IncompleteReadError):  # resets, and closes mid-read
            session.outcome = "connection_lost"
        except asyncio.CancelledError:
            session.outcome = "server_stopped"  # the task ends here: nothing awaits it
        finally:
            writer.close()
            self._log(session)

    async def _refuse(self, reader: asyncio.StreamReader) -> None:
        """Read the ClientHello, then close: a plain close, not a reset that would
        look like an on-path device blocking the name."""
        await self._read_hello(reader)

    async def _read_hello(self, reader: asyncio.StreamReader) -> tuple[bool, bytes] | None:
        """(scrambled, the ClientHello record un-inverted), or None if it is not one."""
        header = await self._read(reader, RECORD_HEADER)
        parsed = hello_header(header)
        if parsed is None:
            return None
        scrambled, length = parsed
        record = header + await self._read(reader, length)  # a split ClientHello joins here
        return scrambled, invert(record) if scrambled else record

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, session: _Session
    ) -> None:
        request = await self._read_request(reader, session)
        if request is None:
            return
        session.direction = request.direction.value
        if request.bytes > self.limits.max_session_bytes:
            session.outcome = "over_cap"  # refused whole: a part would read as throttling
            return
        if request.direction == Direction.DOWNLOAD:
            await self._send(writer, framed_size(request.bytes), session)
        else:
            await self._receive(reader, writer, request, session)

    async def _read_request(
        self, reader: asyncio.StreamReader, session: _Session
    ) -> Request | None:
        hello = await self._read_hello(reader)
        if hello is None:
            session.outcome = "not_a_client_hello"
            return None
        session.scrambled, record = hello
        request = authenticate(self._secret, record, self._nonces)
        if request is None:
            session.outcome = "unauthenticated"
        return request

    async def _read(self, reader: asyncio.StreamReader, size: int) -> bytes:
        async with asyncio.timeout(self.limits.read_timeout):
            return await reader.readexactly(size)

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
        counter = ByteCounter()
        sampler = Sampler(counter, writer.get_extra_info("socket"), Clock())
        sampler.start()
        try:
            stop = await self._read_upload(reader, request, counter, sampler)
        finally:
            sampler.stop()
        session.bytes = counter.bytes
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

        try:
            end = await read_body(chunks(), counter, sampler, wire_bytes, request.stop_at_plateau)
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
    where = f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return f"Cannot listen on {where}: the port is already in use."
    if error.errno == errno.EACCES:
        return (
            f"Cannot listen on {where}: ports below 1024 need root or CAP_NET_BIND_SERVICE "
            "(or choose another --port)."
        )
    return f"Cannot listen on {where}: {(error.strerror or str(error)).lower()}."
