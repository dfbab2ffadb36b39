"""Replay step: one session with a ``throttle-probe serve`` server.

The probe sends a crafted ClientHello (``clienthello``) carrying the request
and the proof of the shared secret (``replaywire``), then either reads the
requested bytes (download) or sends them and reads the server's report of
what arrived when (upload). Only the ClientHello differs between the
sessions of a replay test, so a difference in throughput is the network
reacting to it. Like every step, it always returns its record.
"""

import asyncio
import errno
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from probe.measure.body import BodyEnd, finish_record, read_body
from probe.measure.clienthello import ClientHello, build_client_hello, invert
from probe.measure.replaywire import (
    ACCEPT_SIZE,
    APPLICATION_DATA,
    MAX_RECORD_PAYLOAD,
    MAX_SESSION_SECONDS,
    MAX_UPLOAD_SECONDS,
    RECORD_HEADER,
    Request,
    UploadReport,
    decode_report,
    framed_size,
    record_header,
    seal,
)
from probe.measure.sampler import ByteCounter, Sampler
from probe.measure.timing import Clock, Deadline, Interrupt, PhaseLog, how_it_ended
from probe.records import (
    ByteSample,
    Direction,
    Failure,
    ReplayRecord,
    StopReason,
    TcpInfoSample,
    Variant,
)
from probe.wording import host_port

READ_SIZE = 256 * 1024
ACK_POLL = 0.25  # seconds between looks at the acknowledged bytes while a write waits
_UPLOAD_BLOCK = bytes(range(256)) * (MAX_RECORD_PAYLOAD // 256)


@dataclass(frozen=True)
class ReplaySettings:
    connect_timeout: float = 10.0
    stall_timeout: float = 10.0
    transfer_timeout: float = 30.0
    stop_at_plateau: bool = True


@dataclass(frozen=True)
class ReplaySession:
    """What one session sends: the server, the name, the ClientHello's shape, the request."""

    host: str
    port: int
    sni: str
    variant: Variant
    direction: Direction
    payload_bytes: int


class _Refused(Exception):
    """The server closed before sending a byte."""


class _Truncated(Exception):
    """The stream ended before the requested bytes."""


async def replay(
    session: ReplaySession,
    secret: bytes,
    settings: ReplaySettings,
    clock: Clock,
    interrupt: Interrupt | None = None,
    on_bytes: Callable[[int], None] | None = None,
    before_hello: Callable[[socket.socket], Awaitable[None]] | None = None,
    shape: Callable[[str, bytes, bytes], ClientHello] | None = None,
) -> ReplayRecord:
    """Run one replay session; failures are recorded, never raised.

    ``before_hello`` is given the connected socket before the ClientHello goes
    (``locate`` sends a TTL-limited segment of its own there). ``shape`` builds
    the ClientHello from the name, random and session id instead of the
    session's variant (the evasion matrix's other shapes).
    """
    request = Request(
        session.direction,
        session.payload_bytes,
        seconds=upload_seconds(settings),
        stop_at_plateau=settings.stop_at_plateau,
    )
    fields = seal(secret, request)
    hello = (  # before t0
        shape(session.sni, *fields)
        if shape is not None
        else build_client_hello(session.sni, session.variant, *fields)
    )
    record = ReplayRecord(
        server=host_port(session.host, session.port),
        sni=session.sni,
        variant=session.variant,
        direction=session.direction,
        requested_bytes=framed_size(session.payload_bytes),
        t0=clock.now(),
        t=0.0,
    )
    phases = PhaseLog(record.phases, clock)
    counter = ByteCounter(clock)
    sampler: Sampler | None = None
    writer: asyncio.StreamWriter | None = None
    deadline = Deadline(session_seconds(settings), interrupt)
    upload = session.direction == Direction.UPLOAD
    try:
        async with deadline:
            deadline.phase(settings.connect_timeout)
            phases.open("connect")
            reader, writer = await asyncio.open_connection(session.host, session.port)
            sock = cast(socket.socket, writer.get_extra_info("socket"))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)  # a split stays split
            if before_hello is not None:
                await before_hello(sock)
            phases.open("hello")
            deadline.phase(settings.stall_timeout)
            await _send_hello(writer, hello)
            sampler = Sampler(counter, sock)
            run = _Run(record, counter, sampler, deadline, settings, phases, on_bytes)
            if upload:
                scrambled = session.variant == Variant.SCRAMBLED
                record.stop_reason = await _upload(reader, writer, run, scrambled)
            else:
                record.stop_reason = await _download(reader, run)
    except Exception as error:  # OS errors, our deadline, a refusing or truncating server
        _record_failure(record, phases, deadline, error)
    finally:
        # Finished while the socket is open: the sampler's last TCP_INFO reads it.
        finish_record(record, phases, clock, sampler, counter, received_here=not upload)
        if writer is not None:
            writer.transport.abort()  # what is still queued need not be sent
    return record


def upload_seconds(settings: ReplaySettings) -> int:
    """The server's time budget for an upload: its report must arrive within ours."""
    return max(1, min(MAX_UPLOAD_SECONDS, int(session_seconds(settings) * 0.75)))


def session_seconds(settings: ReplaySettings) -> float:
    """A session's own deadline: the transfer time-out, within the protocol's limit."""
    return min(settings.transfer_timeout, MAX_SESSION_SECONDS)


async def _send_hello(writer: asyncio.StreamWriter, hello: ClientHello) -> None:
    for segment in hello.segments:
        # With TCP_NODELAY each drained write leaves as its own segment.
        writer.write(segment)
        await writer.drain()


@dataclass
class _Run:
    """What the body of a session works with."""

    record: ReplayRecord
    counter: ByteCounter
    sampler: Sampler
    deadline: Deadline
    settings: ReplaySettings
    phases: PhaseLog
    on_bytes: Callable[[int], None] | None

    def counted(self, total: int) -> None:
        """Bytes arrived: the stall clock restarts, and the listener hears of it."""
        self.deadline.phase(self.settings.stall_timeout)
        if self.on_bytes is not None:
            self.on_bytes(total)


async def _download(reader: asyncio.StreamReader, run: _Run) -> StopReason:
    run.phases.open("wait")
    first = await reader.read(READ_SIZE)
    if not first:
        raise _Refused
    run.phases.open("body")
    run.sampler.start()
    run.counter.bytes = len(first)
    run.counted(run.counter.bytes)
    if run.counter.bytes >= run.record.requested_bytes:
        return StopReason.COMPLETE
    limit, plateau = run.record.requested_bytes, run.settings.stop_at_plateau
    end = await read_body(_chunks(reader), run.counter, run.sampler, limit, plateau, run.counted)
    if end == BodyEnd.END:
        raise _Truncated
    return StopReason.PLATEAU if end == BodyEnd.PLATEAU else StopReason.COMPLETE


async def _chunks(reader: asyncio.StreamReader) -> AsyncIterator[bytes]:
    while chunk := await reader.read(READ_SIZE):
        yield chunk


async def _upload(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, run: _Run, scrambled: bool
) -> StopReason:
    """Send until the bytes are all out or the server's report arrives, then read it.

    The server, which alone sees what arrives when, ends an upload at the
    plateau or at its time budget. Meanwhile the stall clock and the progress
    follow what it acknowledged: the socket itself accepts megabytes at once.
    """
    run.phases.open("wait")
    await _receive_accept(reader, scrambled)
    run.phases.open("body")
    run.sampler.start()
    full = _frame(_UPLOAD_BLOCK, scrambled)
    watch = _AckWatch(run)
    report = asyncio.ensure_future(_receive_report(reader, scrambled))
    try:
        while run.counter.bytes < run.record.requested_bytes and not report.done():
            remaining = run.record.requested_bytes - run.counter.bytes
            if remaining >= len(full):
                chunk = full
            else:  # the last record: shorter, with its own header
                chunk = _frame(_UPLOAD_BLOCK[: remaining - RECORD_HEADER], scrambled)
            writer.write(chunk)
            run.counter.add(len(chunk))
            while not await _drained_or_done(writer, report):
                watch.progress()
            watch.progress()
        if not report.done():
            writer.write_eof()
        run.phases.open("report")
        return _account(run.record, await report)
    finally:
        report.cancel()


async def _receive_accept(reader: asyncio.StreamReader, scrambled: bool) -> None:
    """The server's go-ahead: a refusal is a close before it, an on-path reset a reset."""
    header = await reader.read(RECORD_HEADER)
    if not header:
        raise _Refused
    header += await reader.readexactly(RECORD_HEADER - len(header))
    if scrambled:
        header = invert(header)
    if header[0] != APPLICATION_DATA or int.from_bytes(header[3:5], "big") != ACCEPT_SIZE:
        raise _BadReport
    await reader.readexactly(ACCEPT_SIZE)


async def _drained_or_done(writer: asyncio.StreamWriter, report: "asyncio.Future[Any]") -> bool:
    """Whether the write buffer drained, or the report came, within ``ACK_POLL`` seconds."""
    transport = writer.transport
    if transport.get_write_buffer_size() <= transport.get_write_buffer_limits()[1]:
        return True  # below the high-water mark: nothing to wait for (the fast path)
    drain = asyncio.ensure_future(writer.drain())
    drain.add_done_callback(_retrieve)
    done, _ = await asyncio.wait(
        {drain, report}, timeout=ACK_POLL, return_when=asyncio.FIRST_COMPLETED
    )
    if drain not in done:
        drain.cancel()
    return bool(done)


def _retrieve(task: "asyncio.Future[None]") -> None:
    """Consume a drain's outcome: a reset it saw is reported by the session, not the loop."""
    if not task.cancelled():
        task.exception()


class _AckWatch:
    """Follows the acknowledged bytes in the sampler's TCP_INFO."""

    def __init__(self, run: _Run) -> None:
        self._run = run
        self._acked = 0

    def progress(self) -> None:
        """On new acknowledged bytes: restart the stall clock and tell the listener."""
        series = acknowledged(self._run.sampler.tcp_info)
        if series and series[-1].bytes > self._acked:
            self._acked = series[-1].bytes
            self._run.deadline.phase(self._run.settings.stall_timeout)
            if self._run.on_bytes is not None:
                self._run.on_bytes(self._acked)


def acknowledged(tcp_info: Sequence[TcpInfoSample]) -> list[ByteSample]:
    """Bytes the peer acknowledged, from the first sample on: an upload's progress."""
    known = [info for info in tcp_info if info.bytes_acked is not None]
    if not known:
        return []
    start = known[0].bytes_acked or 0
    return [ByteSample(info.t, (info.bytes_acked or 0) - start) for info in known]


async def _receive_report(reader: asyncio.StreamReader, scrambled: bool) -> UploadReport:
    """The server's account of the upload: what arrived, when, and why it ended."""
    header = await reader.readexactly(RECORD_HEADER)
    if scrambled:
        header = invert(header)
    payload = await reader.readexactly(int.from_bytes(header[3:5], "big"))
    try:
        return decode_report(invert(payload) if scrambled else payload)
    except (ValueError, KeyError, TypeError) as error:
        raise _BadReport from error


def _account(record: ReplayRecord, report: UploadReport) -> StopReason:
    record.bytes = report.bytes
    record.samples = [ByteSample(t, n) for t, n in report.samples]
    if report.stop == "stall":  # nothing arrived for the server's read time-out
        raise _Stalled
    ended = _REPORTED_STOPS.get(report.stop)
    if ended is None:
        raise _BadReport
    if ended == StopReason.COMPLETE and report.bytes < record.requested_bytes:
        raise _Truncated
    return ended


_REPORTED_STOPS = {
    "complete": StopReason.COMPLETE,
    "plateau": StopReason.PLATEAU,
    "deadline": StopReason.DEADLINE,
    "closed": StopReason.COMPLETE,  # checked against the byte count
}


class _Stalled(Exception):
    """The server reported that the upload stopped arriving."""


class _BadReport(Exception):
    """The server's answer to an upload (its go-ahead or its report) could not be read."""


def _frame(payload: bytes, scrambled: bool) -> bytes:
    framed = record_header(len(payload)) + payload
    return invert(framed) if scrambled else framed


def _record_failure(
    record: ReplayRecord, phases: PhaseLog, deadline: Deadline, error: Exception
) -> None:
    record.stop_reason, record.failure = how_it_ended(deadline, error, phases.current, classify)
    if record.failure is not None:
        phases.fail(record.failure)


def classify(error: BaseException, phase: str | None) -> Failure:
    """Name what ended a replay session, given the phase it interrupted."""
    if isinstance(error, _Refused | asyncio.IncompleteReadError) and phase in ("wait", "report"):
        return Failure.REPLAY_REFUSED if phase == "wait" else Failure.REPLAY_TRUNCATED
    if isinstance(error, _Truncated):
        return Failure.REPLAY_TRUNCATED
    if isinstance(error, _BadReport):
        return Failure.REPLAY_ERROR
    if isinstance(error, _Stalled):
        return Failure.STALL
    if isinstance(error, TimeoutError):
        return _TIMEOUTS.get(phase or "connect", Failure.READ_TIMEOUT)
    if isinstance(error, ConnectionRefusedError):
        return Failure.TCP_REFUSED
    if isinstance(error, OSError) and phase == "connect":
        unreachable = error.errno in (errno.ENETUNREACH, errno.EHOSTUNREACH)
        return Failure.NETWORK_UNREACHABLE if unreachable else Failure.TCP_ERROR
    if isinstance(error, ConnectionError):
        # Reset right after the ClientHello is how SNI blocking looks.
        return Failure.TLS_RESET if phase in ("hello", "wait") else Failure.TCP_RESET
    return Failure.REPLAY_ERROR


_TIMEOUTS = {
    "connect": Failure.TCP_TIMEOUT,
    "hello": Failure.TLS_TIMEOUT,
    "wait": Failure.TLS_TIMEOUT,  # nothing came back after the ClientHello
    "body": Failure.STALL,
    "report": Failure.READ_TIMEOUT,
}
