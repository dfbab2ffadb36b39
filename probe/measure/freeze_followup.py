"""The freeze follow-up: for a download that froze, two tests that cost a few KB.

After the round's downloads (``Turn.AFTER_TARGETS``), every TCP download
that froze (``measure.freeze``: a target's or a control's) gets, on two new
connections to the same address with the same name, side by side:

* small HEAD requests one after another on one keep-alive connection, until
  it has carried twice what the frozen one had: a budget per connection
  freezes them too, about where the download froze; one per request, or a
  rule on big responses only, lets them through;
* one upload of ``UPLOAD_BYTES`` (a POST whose answer does not matter): a
  budget that counts both directions, as some reports of 2025 say, freezes
  it; how much the server acknowledged (TCP_INFO) says where.

A test that waits ``stall`` seconds (the round's setting) with nothing moving
has frozen. The outcome is the entry's ``freeze_followup``; the judge is
``analysis.freeze``.
"""

import asyncio
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import cast
from urllib.parse import urlsplit

from probe.measure.freeze import FreezePoint, freeze_point
from probe.measure.jobs import Job, RoundContext
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.tcpinfo import read_tcp_info
from probe.measure.transfer import USER_AGENT, classify
from probe.records import Failure, FreezeFollowUp, Role, TargetResult

UPLOAD_BYTES = 64 * 1024
MIN_KEEPALIVE_GOAL = 32 * 1024  # bytes the keep-alive connection should carry at least
MAX_HEAD_REQUESTS = 200  # a HEAD answer is 200-800 bytes: enough for the goal
POLL_INTERVAL = 0.05  # seconds between TCP_INFO reads while an upload is acknowledged


class FreezeFollowUps(MeasurementKind):
    name = "freeze_followup"
    turn = Turn.AFTER_TARGETS

    async def measure(self, progress: RoundInProgress) -> None:
        frozen = [
            (job, result, point)
            for job, result in progress.measured
            if job.role in (Role.TARGET, Role.CONTROL)
            and (point := freeze_point(result.transfer)) is not None
        ]
        if not frozen or progress.interrupted:
            return
        await asyncio.gather(
            *(_follow_up(job, result, point, progress.shared) for job, result, point in frozen)
        )


@dataclass(frozen=True)
class _Path:
    """Where the frozen download went, and how long each step may wait."""

    address: str
    port: int
    sni: str
    host_header: str
    target: str  # the request target: path and query
    context: ssl.SSLContext
    connect_timeout: float
    tls_timeout: float
    silence: float  # nothing moving this long: frozen


async def _follow_up(
    job: Job, result: TargetResult, point: FreezePoint, shared: RoundContext
) -> None:
    transfer = result.transfer
    if transfer is None or transfer.address is None:
        return
    timeouts = shared.config.settings.timeouts
    parts = urlsplit(transfer.url)
    path = _Path(
        transfer.address,
        transfer.port,
        transfer.sni,
        parts.netloc.rpartition("@")[2],
        (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
        shared.ssl_context if job.verify else shared.unverified_ssl_context,
        timeouts.connect,
        timeouts.tls,
        timeouts.stall,
    )
    goal = max(2 * point.connection_bytes, MIN_KEEPALIVE_GOAL)
    record = FreezeFollowUp(path.address, path.sni, keepalive_goal=goal, upload_bytes=UPLOAD_BYTES)
    started = time.monotonic()
    await asyncio.gather(_keepalive(path, record), _upload(path, record))
    record.seconds = time.monotonic() - started
    result.freeze_followup = record


async def _keepalive(path: _Path, record: FreezeFollowUp) -> None:
    """HEAD after HEAD on one connection until it has carried ``keepalive_goal`` bytes."""
    request = _request_head(path, "HEAD").encode()

    async def test(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = cast(socket.socket, writer.get_extra_info("socket"))
        received = 0
        while received < record.keepalive_goal and record.keepalive_requests < MAX_HEAD_REQUESTS:
            writer.write(request)
            record.keepalive_requests += 1
            try:
                await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), path.silence)
            except TimeoutError:
                record.keepalive_froze = True
                return
            except asyncio.IncompleteReadError:
                # The server ends keep-alive after so many requests (Apache: 100). Past
                # the offset the download froze at (half the goal), that is a pass.
                if received < record.keepalive_goal // 2:
                    raise
                break
            record.keepalive_answered += 1
            info = read_tcp_info(sock, 0.0)
            received = (info.bytes_received or 0) if info is not None else 0
            record.keepalive_bytes_in = received
        record.keepalive_froze = False

    failure = await _on_connection(path, test)
    if failure is not None and record.keepalive_froze is None:
        record.keepalive_failure = failure


async def _upload(path: _Path, record: FreezeFollowUp) -> None:
    """One POST of ``upload_bytes``; frozen if the server's acknowledgements stop short.

    A server that answers (or closes) before it has taken the whole body leaves
    the question open: what it acknowledged after that says nothing of a budget.
    """

    async def test(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = cast(socket.socket, writer.get_extra_info("socket"))
        before = _acked(sock)
        headers = _request_head(path, "POST", record.upload_bytes)
        writer.write(headers.encode() + bytes(record.upload_bytes))
        goal = len(headers) + record.upload_bytes  # TLS adds to it: acked past it, all went
        answer = asyncio.ensure_future(reader.read(1))
        try:
            record.upload_acked = await _acknowledged(sock, before, goal, answer, path.silence)
        finally:
            answer.cancel()
        if record.upload_acked >= goal:
            record.upload_froze = False
        elif answer.done():
            record.upload_answered_early = True
        else:
            record.upload_froze = True

    failure = await _on_connection(path, test)
    if failure is not None and record.upload_froze is None:
        record.upload_failure = failure


async def _acknowledged(
    sock: socket.socket, before: int, goal: int, answer: "asyncio.Future[bytes]", silence: float
) -> int:
    """Bytes the server acknowledged, once ``goal`` or an answer came or ``silence`` passed."""
    acked, moved_at = 0, time.monotonic()
    while acked < goal and not answer.done():
        await asyncio.sleep(POLL_INTERVAL)
        now_acked = _acked(sock) - before
        if now_acked > acked:
            acked, moved_at = now_acked, time.monotonic()
        elif time.monotonic() - moved_at >= silence:
            break
    return acked


def _acked(sock: socket.socket) -> int:
    info = read_tcp_info(sock, 0.0)
    return (info.bytes_acked or 0) if info is not None else 0


def _request_head(path: _Path, method: str, length: int | None = None) -> str:
    lines = [
        f"{method} {path.target} HTTP/1.1",
        f"Host: {path.host_header}",
        f"User-Agent: {USER_AGENT}",
        "Accept-Encoding: identity",
    ]
    if length is not None:
        lines += [f"Content-Length: {length}", "Content-Type: application/octet-stream"]
    return "\r\n".join(lines) + "\r\n\r\n"


Test = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def _on_connection(path: _Path, test: Test) -> Failure | None:
    """Connect, hand the TLS session to ``test``, close; the failure that stopped it, if any."""
    try:
        reader, writer = await asyncio.wait_for(
            asyncio.open_connection(path.address, path.port), path.connect_timeout
        )
    except (OSError, TimeoutError) as error:
        return classify(error, "connect")
    phase = "tls"
    try:
        await asyncio.wait_for(
            writer.start_tls(path.context, server_hostname=path.sni), path.tls_timeout
        )
        phase = "body"
        await test(reader, writer)
    except (OSError, TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
        return classify(error, phase)
    finally:
        writer.transport.abort()  # a frozen connection would not take a goodbye
    return None
