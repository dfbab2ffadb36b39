"""The replay server under attack: real server, real sockets on loopback.

Hostile clients come from their own loopback addresses (127.0.1.x: Linux
answers all of 127/8), as they would from many hosts, while the real probe
connects from 127.0.0.1.
"""

import asyncio
import logging
import os
import resource
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from probe.measure import replaywire
from probe.measure.clienthello import build_client_hello
from probe.measure.replay_session import ReplaySettings, session_seconds, upload_seconds
from probe.measure.replaywire import (
    MAX_SESSION_SECONDS,
    MAX_UPLOAD_SECONDS,
    NonceCache,
    Request,
    authenticate,
    hello_header,
    seal,
)
from probe.records import Direction, Failure, Variant
from probe.server import ReplayServer, ServerLimits, SourceRateLimit
from tests.test_server import SECRET, raw_exchange, session

T = TypeVar("T")
HALF_HELLO = b"\x16\x03\x01\x10\x00"  # a record header announcing 4096 bytes, then nothing


def with_server(
    work: Callable[[ReplayServer, int], Awaitable[T]],
    limits: ServerLimits | None = None,
    journal: Path | None = None,
) -> T:
    async def main() -> T:
        replay_server = ReplayServer(SECRET, limits, journal)
        server = await replay_server.start("127.0.0.1", 0)
        async with server:
            return await work(replay_server, server.sockets[0].getsockname()[1])

    return asyncio.run(main())


Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


async def hostile(port: int, source: str, data: bytes = HALF_HELLO) -> Connection:
    """A connection from ``source`` that sends ``data`` and then nothing (keep it referenced:
    a writer that is garbage-collected closes its connection)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(data)
    await writer.drain()
    return reader, writer


def good_hello(direction: Direction = Direction.DOWNLOAD, size: int = 100_000) -> bytes:
    random, session_id = seal(SECRET, Request(direction, size))
    return build_client_hello("x.com", Variant.PLAIN, random, session_id).data


async def closed_within(connection: Connection, seconds: float) -> bool:
    reader, _ = connection
    try:
        async with asyncio.timeout(seconds):
            return await reader.read() == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def test_a_hundred_unauthenticated_addresses_do_not_starve_a_real_probe() -> None:
    async def work(_: ReplayServer, port: int) -> Failure | None:
        held = [await hostile(port, f"127.0.1.{i}") for i in range(1, 101)]
        await asyncio.sleep(0.2)
        record = await session(port, payload=200_000)
        assert not any([await closed_within(c, 0.01) for c in held])  # all still pending
        return record.failure

    # Long hello time-outs: every hostile connection is still pending when the probe comes.
    failure = with_server(work, ServerLimits(hello_timeout=30, max_sessions=32))

    assert failure is None


def test_one_address_holds_at_most_its_pending_share() -> None:
    async def work(_: ReplayServer, port: int) -> list[bool]:
        connections = [await hostile(port, "127.0.2.1") for _ in range(10)]
        return [await closed_within(c, 1.5) for c in connections]

    closed = with_server(work, ServerLimits(hello_timeout=30, pending_per_source=4))

    assert closed.count(False) == 4 and closed.count(True) == 6


def test_a_refused_connection_is_closed_at_once_and_freed_within_a_second() -> None:
    async def work(replay_server: ReplayServer, port: int) -> tuple[float, int, int]:
        await raw_exchange(port, good_hello())  # the address's one session this minute
        begun = time.monotonic()
        connection = await hostile(port, "127.0.0.1")  # rate-limited: a FIN at once
        assert await closed_within(connection, 1.0)
        answered = time.monotonic() - begun
        open_then = replay_server._open  # it stays open on our side, silent
        await asyncio.sleep(1.3)
        return answered, open_then, replay_server._open

    answered, open_then, open_later = with_server(work, ServerLimits(sessions_per_minute=1))

    assert answered < 0.3
    assert (open_then, open_later) == (1, 0)


def test_connections_past_the_limit_are_closed_at_once_with_one_log_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def work(replay_server: ReplayServer, port: int) -> tuple[list[bool], int]:
        connections = [await hostile(port, f"127.0.3.{i}") for i in range(1, 51)]
        closed = [await closed_within(c, 0.2) for c in connections]
        return closed, replay_server._open

    with caplog.at_level(logging.INFO, logger="throttle-probe.serve"):
        closed, still_open = with_server(work, ServerLimits(hello_timeout=30, max_connections=20))

    assert still_open == 20 and closed.count(True) == 30
    summaries = [r for r in caplog.records if "connection limit" in r.getMessage()]
    assert len(summaries) == 1


def test_the_rate_table_stays_bounded_and_remembers_a_recent_offender() -> None:
    limit = SourceRateLimit(per_minute=2, max_addresses=1000)
    now = 1000.0
    assert limit.allow("offender", now) and limit.allow("offender", now)
    assert not limit.allow("offender", now)

    for index in range(20_000):
        limit.allow(f"10.{index // 65536}.{index // 256 % 256}.{index % 256}", now + 1)
        if index == 500:
            assert not limit.allow("offender", now + 1)  # recent: still limited

    assert len(limit) <= 1000


def test_each_client_hello_works_once_across_a_restart(tmp_path: Path) -> None:
    journal = tmp_path / "replay.nonces"
    hello = good_hello()

    async def first(_: ReplayServer, port: int) -> bytes:
        return await raw_exchange(port, hello)

    async def after_restart(_: ReplayServer, port: int) -> tuple[bytes, bytes]:
        return await raw_exchange(port, hello), await raw_exchange(port, good_hello())

    served = with_server(first, journal=journal)
    with open(journal, "a") as torn:
        torn.write("0123abc")  # a torn last line, as a power loss leaves it
    replayed, fresh = with_server(after_restart, journal=journal)

    assert len(served) > 100_000 and replayed == b"" and len(fresh) > 100_000


def test_the_log_names_refusals_and_counts_an_upload_cut_short(
    caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    import probe.server

    monkeypatch.setattr(probe.server, "MAX_SESSION_SECONDS", 1)  # sessions end after ~1.2 s

    async def work(_: ReplayServer, port: int) -> None:
        await raw_exchange(port, good_hello())
        await raw_exchange(port, good_hello())  # over the address's one a minute: rate_limited
        reader, writer = await asyncio.open_connection(
            "127.0.0.1", port, local_addr=("127.0.0.2", 0)
        )
        writer.write(good_hello(Direction.UPLOAD, 10_000_000))
        await reader.readexactly(5 + 32)  # the go-ahead
        with pytest.raises(ConnectionError):
            for _chunk in range(100):  # a slow upload that the session limit cuts
                writer.write(b"\x17\x03\x03\x40\x00" + bytes(16384))
                await writer.drain()
                await asyncio.sleep(0.05)
        writer.close()

    limits = ServerLimits(sessions_per_minute=1, read_timeout=0.1)
    with caplog.at_level(logging.INFO, logger="throttle-probe.serve"):
        with_server(work, limits)

    lines = [r.getMessage() for r in caplog.records]
    assert any(" rate_limited " in line for line in lines), lines
    cut = [line for line in lines if " upload " in line]
    assert len(cut) == 1 and " timeout " in cut[0], cut
    assert int(cut[0].split(" bytes")[0].rsplit(" ", 1)[1]) > 100_000, cut


def test_a_busy_refusal_is_logged_as_busy(caplog: pytest.LogCaptureFixture) -> None:
    async def work(_: ReplayServer, port: int) -> None:
        _reader, holder = await asyncio.open_connection("127.0.0.1", port)
        holder.write(good_hello(size=16_000_000))  # never read: holds the only slot
        await asyncio.sleep(0.2)
        await session(port, payload=100_000)
        holder.close()

    with caplog.at_level(logging.INFO, logger="throttle-probe.serve"):
        with_server(work, ServerLimits(max_sessions=1, read_timeout=5))

    assert any(" busy " in r.getMessage() for r in caplog.records)


def test_probe_and_server_agree_on_how_long_a_session_may_last() -> None:
    patient = ReplaySettings(transfer_timeout=340)  # a probe allowed more than the protocol

    assert session_seconds(patient) == MAX_SESSION_SECONDS
    assert upload_seconds(patient) == MAX_UPLOAD_SECONDS
    assert ServerLimits().session_timeout > MAX_SESSION_SECONDS  # never cut before the probe
    request = Request(Direction.UPLOAD, 1000, seconds=255)
    sealed = build_client_hello("x.com", Variant.PLAIN, *seal(SECRET, request)).data
    accepted = authenticate(SECRET, sealed, NonceCache())
    assert accepted is not None and accepted.seconds == MAX_UPLOAD_SECONDS


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=2048))
def test_parsing_never_fails_on_arbitrary_bytes(data: bytes) -> None:
    hello_header(data[:5])
    assert authenticate(SECRET, data, NonceCache()) is None


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(min_size=1, max_size=4096),
        st.builds(lambda tail: b"\x16\x03\x01" + tail, st.binary(max_size=600)),
        st.builds(lambda tail: bytes([0xE9, 0xFC, 0xFE]) + tail, st.binary(max_size=600)),
    )
)
def test_the_server_sends_nothing_to_arbitrary_bytes(data: bytes) -> None:
    async def work(_: ReplayServer, port: int) -> bytes:
        return await raw_exchange(port, data, wait=2)

    assert with_server(work, ServerLimits(hello_timeout=0.2, sessions_per_minute=1e6)) == b""


def test_running_out_of_descriptors_is_no_flood(tmp_path: Path) -> None:
    secret = tmp_path / "secret"
    secret.write_text("a secret that is long enough\n")
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    argv = [sys.executable, "-m", "probe", "serve", "--listen", "127.0.0.1", "--port", str(port)]
    server = subprocess.Popen(
        [*argv, "--secret-file", str(secret), "--sessions-per-minute", "100000"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (120, 120)),
    )
    try:
        time.sleep(1.5)
        flood = []
        for index in range(300):
            client = socket.socket()
            client.bind((f"127.0.4.{index % 250 + 1}", 0))
            client.connect_ex(("127.0.0.1", port))
            client.send(HALF_HELLO)
            flood.append(client)
        time.sleep(2)
        for client in flood:
            client.close()
        time.sleep(0.5)
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=10)

    # At most a line per connection admitted, one summary for those closed at the
    # limit (56 open at once, from the descriptor limit), no traceback (was ~10,000).
    assert "Traceback" not in stderr
    assert len(stderr.splitlines()) <= 300 + 3, stderr[-2000:]
    assert stderr.count("connections closed at once") == 1


EXHAUSTED_SERVER = """
import asyncio, logging, sys
from probe.server import ReplayServer, ServerLimits
logging.basicConfig(format="%(message)s", level=logging.WARNING, stream=sys.stderr)
async def main():
    limits = ServerLimits(max_connections=100_000, hello_timeout=30)  # past the descriptors
    server = await ReplayServer(b"a secret that is long enough", limits).start("127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    await asyncio.sleep(6)
asyncio.run(main())
"""


def test_accept_without_descriptors_is_one_line_and_a_pause() -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", EXHAUSTED_SERVER],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64)),
    )
    assert server.stdout is not None
    port = int(server.stdout.readline())
    flood = []
    for index in range(200):
        client = socket.socket()
        client.bind((f"127.0.7.{index % 250 + 1}", 0))
        client.connect_ex(("127.0.0.1", port))
        flood.append(client)
    _, stderr = server.communicate(timeout=30)
    for client in flood:
        client.close()

    assert server.returncode == 0, stderr
    assert "Traceback" not in stderr
    lines = [line for line in stderr.splitlines() if line]
    assert lines and all("out of file descriptors" in line for line in lines), lines
    assert len(lines) == 1  # one line per ten seconds, however many accepts failed


def test_the_journal_refuses_what_it_cannot_write(tmp_path: Path) -> None:
    unwritable = tmp_path / "no-such-dir" / "replay.nonces"

    with pytest.raises(OSError):
        ReplayServer(SECRET, None, unwritable)


def test_nonce_journal_lines_are_short(tmp_path: Path) -> None:
    journal = tmp_path / "j"
    cache = NonceCache(journal=journal)
    assert cache.first_use(os.urandom(replaywire.NONCE_SIZE), time.time())
    assert len(journal.read_text().splitlines()[0]) < 50
