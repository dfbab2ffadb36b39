"""The replay server and the probe's replay step, against each other on loopback."""

import asyncio
import logging
import os
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from probe.measure.clienthello import build_client_hello
from probe.measure.replay_session import ReplaySession, ReplaySettings, replay
from probe.measure.replaywire import Request, framed_size, seal
from probe.measure.timing import Clock
from probe.records import Direction, Failure, ReplayRecord, StopReason, Variant
from probe.server import ReplayServer, ServerLimits

SECRET = b"the replay secret for these tests"
FAST = ReplaySettings(connect_timeout=2, stall_timeout=2, transfer_timeout=10)
T = TypeVar("T")


def with_server(work: Callable[[int], Awaitable[T]], limits: ServerLimits | None = None) -> T:
    """Run ``work(port)`` while a replay server listens on a loopback port."""

    async def main() -> T:
        server = await ReplayServer(SECRET, limits).start("127.0.0.1", 0)
        async with server:
            return await work(server.sockets[0].getsockname()[1])

    return asyncio.run(main())


async def session(
    port: int,
    variant: Variant = Variant.PLAIN,
    direction: Direction = Direction.DOWNLOAD,
    payload: int = 300_000,
    secret: bytes = SECRET,
) -> ReplayRecord:
    target = ReplaySession("127.0.0.1", port, "pbs.twimg.com", variant, direction, payload)
    return await replay(target, secret, FAST, Clock())


async def raw_exchange(port: int, data: bytes, wait: float = 1.0) -> bytes:
    """Send ``data`` and return everything the server sends until it closes."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(data)
    await writer.drain()
    try:
        async with asyncio.timeout(wait):
            return await reader.read()
    finally:
        writer.close()


@pytest.mark.parametrize("direction", list(Direction))
@pytest.mark.parametrize("variant", list(Variant))
def test_every_shape_moves_the_requested_bytes_in_both_directions(
    variant: Variant, direction: Direction
) -> None:
    async def work(port: int) -> ReplayRecord:
        return await session(port, variant, direction, stop_at_plateau_payload())

    record = with_server(work)

    assert record.failure is None, record.phases
    assert record.stop_reason == StopReason.COMPLETE
    assert record.bytes == record.requested_bytes == framed_size(stop_at_plateau_payload())
    assert record.samples and record.samples[-1].bytes == record.bytes
    assert record.goodput_bytes_per_second is not None
    expected = ["connect", "hello", "wait", "body"]
    if direction == Direction.UPLOAD:
        expected = ["connect", "hello", "wait", "body", "report"]
    assert [p.name for p in record.phases] == expected


def stop_at_plateau_payload() -> int:
    return 2 * 1024 * 1024


def test_a_stranger_gets_nothing_at_all() -> None:
    """Wrong secret, a replayed ClientHello, plain HTTP: closed without one byte."""
    random, session_id = seal(SECRET, Request(Direction.DOWNLOAD, 100_000))
    good = build_client_hello("x.com", Variant.PLAIN, random, session_id).data
    bad_random, bad_id = seal(b"not the secret, but long enough", Request(Direction.DOWNLOAD, 10))
    forged = build_client_hello("x.com", Variant.PLAIN, bad_random, bad_id).data

    async def work(port: int) -> list[bytes]:
        return [
            await raw_exchange(port, forged),
            await raw_exchange(port, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
            await raw_exchange(port, good),
            await raw_exchange(port, good),  # recorded and sent again
        ]

    forged_answer, http_answer, first, replayed = with_server(work)

    assert forged_answer == b"" and http_answer == b"" and replayed == b""
    assert len(first) == framed_size(100_000)


@pytest.mark.parametrize("direction", list(Direction))
def test_a_wrong_secret_reads_as_refused_in_the_record(direction: Direction) -> None:
    """A plain close before the first byte (or an upload's go-ahead), never a reset."""

    async def work(port: int) -> ReplayRecord:
        return await session(
            port, direction=direction, secret=b"a different secret, also long", payload=4_000_000
        )

    record = with_server(work)

    assert record.failure == Failure.REPLAY_REFUSED
    assert record.bytes == 0 and record.goodput_bytes_per_second is None
    assert [p.name for p in record.phases] == ["connect", "hello", "wait"]


def test_requests_above_the_byte_cap_are_refused_whole() -> None:
    async def work(port: int) -> tuple[ReplayRecord, ReplayRecord]:
        return (
            await session(port, payload=200_000),
            await session(port, payload=100_000),
        )

    too_big, within = with_server(work, ServerLimits(max_session_bytes=150_000))

    assert too_big.failure == Failure.REPLAY_REFUSED
    assert within.failure is None and within.bytes == framed_size(100_000)


def test_each_source_gets_its_sessions_per_minute() -> None:
    async def work(port: int) -> list[Failure | None]:
        return [(await session(port, payload=100_000)).failure for _ in range(4)]

    failures = with_server(work, ServerLimits(sessions_per_minute=2))

    assert failures == [None, None, Failure.REPLAY_REFUSED, Failure.REPLAY_REFUSED]


def test_sessions_beyond_the_concurrent_cap_are_refused_with_a_plain_close() -> None:
    random, session_id = seal(SECRET, Request(Direction.DOWNLOAD, 16_000_000))
    holder = build_client_hello("x.com", Variant.PLAIN, random, session_id).data

    async def work(port: int) -> ReplayRecord:
        # An authenticated download that is never read holds the only session slot.
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(holder)
        await asyncio.sleep(0.2)
        try:
            return await session(port, payload=100_000)
        finally:
            writer.close()

    record = with_server(work, ServerLimits(max_sessions=1, read_timeout=5))

    assert record.failure == Failure.REPLAY_REFUSED  # a plain close, not a reset


def test_a_silent_client_is_dropped_after_the_hello_timeout() -> None:
    async def work(port: int) -> tuple[bytes, float]:
        loop = asyncio.get_running_loop()
        start = loop.time()
        answer = await raw_exchange(port, b"\x16\x03", wait=5)  # half a record header
        return answer, loop.time() - start

    answer, seconds = with_server(work, ServerLimits(hello_timeout=0.3))

    assert answer == b""
    assert 0.25 < seconds < 2


def test_the_log_tells_what_happened_and_never_the_secret(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def work(port: int) -> None:
        await session(port, payload=100_000)
        await session(port, secret=b"a different secret, also long")

    with caplog.at_level(logging.INFO, logger="throttle-probe.serve"):
        with_server(work)

    text = caplog.text
    assert " ok download plain " in text and " unauthenticated " in text
    assert SECRET.decode() not in text and SECRET.hex() not in text


def test_a_reset_after_the_client_hello_is_a_tls_reset() -> None:
    """What RST-blocking by SNI looks like to the replay step."""

    async def main() -> ReplayRecord:
        async def reset(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(5)
            sock = writer.get_extra_info("socket")
            linger_zero = struct.pack("ii", 1, 0)  # closing sends a reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger_zero)
            writer.transport.abort()

        server = await asyncio.start_server(reset, "127.0.0.1", 0)
        async with server:
            return await session(server.sockets[0].getsockname()[1])

    record = asyncio.run(main())

    assert record.failure == Failure.TLS_RESET


def test_a_server_that_never_answers_is_a_tls_timeout_and_a_closed_port_is_refused() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()

    async def main() -> tuple[ReplayRecord, ReplayRecord]:
        return await session(listener.getsockname()[1]), await session(closed_port)

    try:
        silent, refused = asyncio.run(main())
    finally:
        listener.close()

    assert silent.failure == Failure.TLS_TIMEOUT
    assert refused.failure == Failure.TCP_REFUSED


def test_the_replay_secret_is_not_in_any_record() -> None:
    async def work(port: int) -> ReplayRecord:
        return await session(port, payload=100_000)

    record = with_server(work)

    assert SECRET.decode() not in repr(record)
    assert os.environ.get("THROTTLE_PROBE_SECRET_FILE") is None
