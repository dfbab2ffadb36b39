"""The replay server under attack on loopback: what strangers get, and what real probes get.

    .venv/bin/python bench/serve_under_attack.py [--hostile 100] [--sessions 20]

`throttle-probe serve` runs as a subprocess on a loopback port. Part 1:
clients that do not hold the secret send what an attacker would (random
bytes, HTTP, real TLS ClientHellos with a wrong secret, a recorded real
ClientHello sent again, truncated and lying record headers, a 1 MB flood),
each from its own loopback address; printed: the bytes the server sent back
to them (it must be zero). Part 2: --sessions real replay sessions (the
probe's own step, downloads of 1 MiB), first alone, then while --hostile
connections from as many addresses hold a half-sent ClientHello; printed:
how many succeeded and their median duration, in each case.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from probe.measure.clienthello import build_client_hello
from probe.measure.replay_session import ReplaySession, ReplaySettings, replay
from probe.measure.replaywire import Request, seal
from probe.measure.timing import Clock
from probe.records import Direction, Variant

SECRET = b"the bench's replay secret, long enough"
HALF_HELLO = b"\x16\x03\x01\x10\x00"
LEGITIMATE = "real ClientHello, first use"  # the secret's holder: not a stranger


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hostile", type=int, default=100)
    parser.add_argument("--sessions", type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        secret = Path(directory) / "replay.secret"
        secret.write_bytes(SECRET)
        port = free_port()
        argv = [sys.executable, "-m", "probe", "serve", "--listen", "127.0.0.1"]
        argv += ["--port", str(port), "--secret-file", str(secret)]
        argv += ["--sessions-per-minute", "100000"]
        server = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
        try:
            time.sleep(1.5)
            asyncio.run(bench(port, args.hostile, args.sessions))
        finally:
            server.terminate()
            server.wait()


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bench(port: int, hostile: int, sessions: int) -> None:
    print("part 1: what clients without the secret get back")
    total = 0
    for index, (name, data) in enumerate(stranger_payloads()):
        answer = await exchange(port, data, f"127.0.5.{index + 1}")
        if name != LEGITIMATE:
            total += len(answer)
        print(f"  {name:<36} sent {len(data):>8} B, got back {len(answer)} B")
    print(f"  bytes sent to strangers in all (the first use of a real one apart): {total}")

    print(f"\npart 2: {sessions} real sessions (1 MiB downloads, one after the other)")
    alone = [await real_session(port) for _ in range(sessions)]
    report("alone", alone)
    held = []
    for index in range(hostile):
        source = f"127.0.6.{index % 250 + 1}" if hostile <= 250 else f"127.0.{6 + index // 250}.1"
        reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
        writer.write(HALF_HELLO)
        held.append((reader, writer))
    await asyncio.sleep(0.5)
    beside = [await real_session(port) for _ in range(sessions)]
    still_open = sum(1 for reader, _ in held if not reader.at_eof())
    report(f"beside {hostile} hostile connections ({still_open} still open at the end)", beside)
    for _, writer in held:
        writer.close()


def stranger_payloads() -> list[tuple[str, bytes]]:
    request = Request(Direction.DOWNLOAD, 10**6)
    wrong_random, wrong_id = seal(b"a wrong secret of some length", request)
    wrong = build_client_hello("pbs.twimg.com", Variant.PLAIN, wrong_random, wrong_id).data
    random, session_id = seal(SECRET, request)
    recorded = build_client_hello("pbs.twimg.com", Variant.PLAIN, random, session_id).data
    return [
        ("random bytes (4 KiB)", os.urandom(4096)),
        ("HTTP request", b"GET / HTTP/1.1\r\nHost: replay\r\n\r\n"),
        ("ClientHello, wrong secret", wrong),
        ("ClientHello, wrong secret, scrambled", bytes(b ^ 0xFF for b in wrong)),
        ("truncated record header", b"\x16\x03"),
        ("header announcing 4096, 100 sent", b"\x16\x03\x01\x10\x00" + os.urandom(100)),
        ("header announcing 65535", b"\x16\x03\x01\xff\xff" + os.urandom(1000)),
        ("1 MB flood", os.urandom(1_000_000)),
        (LEGITIMATE, recorded),
        ("the same ClientHello again", recorded),
    ]


async def exchange(port: int, data: bytes, source: str) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    try:
        writer.write(data)
        await writer.drain()
        async with asyncio.timeout(8):
            return await reader.read()
    except (ConnectionError, TimeoutError):
        return b""
    finally:
        writer.close()


async def real_session(port: int) -> tuple[bool, float]:
    target = ReplaySession("127.0.0.1", port, "pbs.twimg.com", Variant.PLAIN,
                           Direction.DOWNLOAD, 1 << 20)  # fmt: skip
    settings = ReplaySettings(connect_timeout=5, stall_timeout=5, transfer_timeout=20)
    begun = time.monotonic()
    record = await replay(target, SECRET, settings, Clock())
    return record.failure is None, time.monotonic() - begun


def report(label: str, results: list[tuple[bool, float]]) -> None:
    succeeded = [seconds for ok, seconds in results if ok]
    median = statistics.median(succeeded) * 1000 if succeeded else float("nan")
    print(f"  {label}: {len(succeeded)}/{len(results)} succeeded, median {median:.1f} ms")


if __name__ == "__main__":
    main()
