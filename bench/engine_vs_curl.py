"""Throughput and CPU of the engine against curl, on loopback or through the lab's router.

    .venv/bin/python bench/engine_vs_curl.py [--size-mib 1024] [--runs 3] [--parallel 1]
        [--seconds 10]
    sudo .venv/bin/python bench/engine_vs_curl.py --lab [--size-mib 1024] [--parallel 4]

Each run downloads the same object with the engine, then with curl, then with
the floor (a bare loop of blocking ``recv_into`` on a Python ``ssl`` socket:
the least a Python client can spend). ``--parallel N`` runs N downloads at
once (the engine's in one process, as a round runs them; N curls; N floor
threads) and reports their sum. Rates are bytes over the wall time from the
first connect to the last byte, curl's own definition of speed_download. CPU
seconds per GiB are each client's process time (user + system) over its
downloads: the engine's and the floor's in this process, curl's as children.

After the medians, the engine's clocks over --seconds of downloads at full
rate: the sampler's achieved intervals against the law it draws them from
(exponential, 250 ms mean, clamped to 25-650 ms), how late a 10 ms timer on
the engine's event loop woke during the downloads, and the RTT probes'
connect times, each beside the same figures on an idle loop.

On loopback the objects come from ``probe.lab.origin`` processes of their
own, one per parallel download, so that a server's interpreter lock does not
cap the sum. With --lab (root), a lab named "tpe" is built and every
download crosses its router to deb.debian.org's server; the measuring part
of this script then runs inside the lab's client namespace.
"""

import argparse
import asyncio
import itertools
import random
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from probe.lab.pki import LabPKI
from probe.measure.rttprobe import ConnectRttProbe
from probe.measure.sampler import next_interval
from probe.measure.timing import Clock
from probe.measure.transfer import TransferSettings, download, make_ssl_context
from probe.records import TransferRecord

HOST = "bench.test"
GIB = 1 << 30


@dataclass(frozen=True)
class Source:
    """Where the objects are: ``address:port`` for each parallel download, the name and CA."""

    ports: tuple[int, ...]
    address: str
    host: str
    ca_file: Path

    def url(self, port: int, size: int) -> str:
        return f"https://{self.host}:{port}/bytes/{size}"


@dataclass(frozen=True)
class Timing:
    """How honest the engine's clocks were while it ran at full rate."""

    sample_intervals: list[float]  # between body samples (at full rate, the timer's own)
    loop_lag: list[float]  # how late a 10 ms timer woke on the engine's loop
    rtt_probes: list[float]  # the RTT probes' connect times


@dataclass(frozen=True)
class Run:
    engine: float  # bytes/s, summed over the parallel downloads
    engine_cpu: float  # CPU seconds
    curl: float
    curl_cpu: float
    floor: float
    floor_cpu: float


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


async def loop_lag(until: "asyncio.Future[Any]", period: float = 0.010) -> list[float]:
    """How late each ``period`` sleep wakes up, until ``until`` is done."""
    loop, lags = asyncio.get_running_loop(), []
    while not until.done():
        due = loop.time() + period
        await asyncio.sleep(period)
        lags.append(loop.time() - due)
    return lags


def idle_timing(source: Source) -> Timing:
    """The same clocks on an idle loop: the lag of its timer and 15 connects to the server."""

    async def run() -> Timing:
        probe = ConnectRttProbe(source.address, source.ports[0], Clock(), interval=0.1)
        probe.start()
        idle: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(1.6, idle.set_result, None)
        lags = await loop_lag(idle)
        probe.stop()
        return Timing([], lags, [s.rtt for s in probe.samples if s.rtt is not None])

    return asyncio.run(run())


def engine_downloads(
    source: Source, size: int, seconds: float = 600
) -> tuple[list[TransferRecord], float, list[float]]:
    """One engine download from each server at once: the records, CPU seconds, loop lags."""
    # One request each: the bench times one object, not the repeats on its connection.
    settings = TransferSettings(
        transfer_timeout=seconds, max_bytes=size, repeat_seconds=0, stop_at_plateau=False
    )

    async def run() -> tuple[list[TransferRecord], float, list[float]]:
        context = make_ssl_context(source.ca_file)
        clock = Clock()
        cpu_before = cpu_seconds()
        downloads = asyncio.gather(
            *(
                download(source.url(port, size), source.address, settings, context, clock)
                for port in source.ports
            )
        )
        lags = await loop_lag(downloads)
        records = await downloads
        return records, cpu_seconds() - cpu_before, lags

    records, cpu, lags = asyncio.run(run())
    for record in records:
        if record.failure is not None:
            raise SystemExit(f"engine download failed: {record.failure}, {record.bytes} B")
    return records, cpu, lags


def engine_run(source: Source, size: int) -> tuple[float, float]:
    """(bytes/s of all downloads over the wall time, CPU seconds) of one engine run."""
    records, cpu, _ = engine_downloads(source, size)
    if any(record.bytes != size for record in records):
        raise SystemExit(f"engine downloads fell short: {[r.bytes for r in records]}")
    wall = max(r.t for r in records) - min(r.t0 for r in records)
    return size * len(records) / wall, cpu


def timing_run(source: Source, seconds: float) -> Timing:
    """The engine's clocks over ``seconds`` of downloads at full rate."""
    records, _, lags = engine_downloads(source, 10**13, seconds)
    # At full rate the count grows between any two wake-ups, so a sample's stamp
    # (when the count last grew) is its timer's wake-up to within a TLS record.
    intervals = [b.t - a.t for r in records for a, b in itertools.pairwise(r.samples[:-1])]
    rtts = [p.rtt for r in records for p in r.rtt_probes if p.rtt is not None]
    return Timing(intervals, lags, rtts)


def curl_run(source: Source, size: int) -> tuple[float, float]:
    """(bytes/s, CPU seconds) of N curls started together, over the wall time they took."""
    cpu_before, started = cpu_seconds(resource.RUSAGE_CHILDREN), time.monotonic()
    curls = [
        subprocess.Popen(
            [
                "curl",
                "--silent",
                "--show-error",
                "--fail",
                "--output",
                "/dev/null",
                "--cacert",
                str(source.ca_file),
                "--resolve",
                f"{source.host}:{port}:{source.address}",
                "--write-out",
                "%{size_download}",
                source.url(port, size),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for port in source.ports
    ]
    outputs = [curl.communicate()[0] for curl in curls]
    wall = time.monotonic() - started
    if any(curl.returncode != 0 for curl in curls) or any(int(o) != size for o in outputs):
        raise SystemExit(f"curl failed or fell short: {outputs}")
    return size * len(curls) / wall, cpu_seconds(resource.RUSAGE_CHILDREN) - cpu_before


def floor_run(source: Source, size: int) -> tuple[float, float]:
    """(bytes/s, CPU seconds) of the floor: blocking reads in N threads, no probe at all."""
    context = ssl.create_default_context(cafile=str(source.ca_file))
    errors: list[BaseException] = []

    def one(port: int) -> None:
        try:
            raw = socket.create_connection((source.address, port))
            with context.wrap_socket(raw, server_hostname=source.host) as tls:
                request = f"GET /bytes/{size} HTTP/1.1\r\nHost: {source.host}\r\n\r\n"
                tls.sendall(request.encode())
                buffer = memoryview(bytearray(1 << 20))
                received = 0
                while received < size:  # the headers count too: a few hundred bytes
                    count = tls.recv_into(buffer)
                    if count == 0:
                        raise RuntimeError("the floor's download ended early")
                    received += count
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=one, args=(port,)) for port in source.ports]
    cpu_before, started = cpu_seconds(), time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise SystemExit(f"the floor failed: {errors[0]}")
    return size * len(threads) / (time.monotonic() - started), cpu_seconds() - cpu_before


def gbit(bytes_per_second: float) -> str:
    return f"{bytes_per_second * 8 / 1e9:6.2f} Gbit/s"


def measure(source: Source, size: int, runs: int, seconds: float, where: str) -> None:
    """Run and print ``runs`` rounds of engine, curl and floor, then their medians."""
    gib = size * len(source.ports) / GIB
    rows = []
    for number in range(1, runs + 1):
        engine, engine_cpu = engine_run(source, size)
        curl, curl_cpu = curl_run(source, size)
        floor, floor_cpu = floor_run(source, size)
        rows.append(Run(engine, engine_cpu, curl, curl_cpu, floor, floor_cpu))
        print(
            f"run {number}: engine {gbit(engine)}, curl {gbit(curl)}, floor {gbit(floor)}; "
            f"CPU s/GiB: engine {engine_cpu / gib:.2f}, curl {curl_cpu / gib:.2f}, "
            f"floor {floor_cpu / gib:.2f}",
            flush=True,
        )
    engine = statistics.median(r.engine for r in rows)
    curl = statistics.median(r.curl for r in rows)
    parallel = len(source.ports)
    print(f"\nmedian of {runs} runs, {parallel} x {size >> 20} MiB over TLS {where}:")
    print(f"  engine  {gbit(engine)}")
    print(f"  curl    {gbit(curl)}")
    print(f"  floor   {gbit(statistics.median(r.floor for r in rows))} (blocking recv_into)")
    print(f"  ratio   {engine / curl:.2f} (engine / curl)")
    cpu = {
        name: statistics.median(getattr(r, f"{name}_cpu") for r in rows) / gib
        for name in ("engine", "curl", "floor")
    }
    figures = ", ".join(f"{name} {per_gib:.2f}" for name, per_gib in cpu.items())
    print(f"  CPU     {figures} s per GiB")
    print_timing(timing_run(source, seconds), idle_timing(source), seconds)


def print_timing(busy: Timing, idle: Timing, seconds: float) -> None:
    """The sampler's achieved intervals against its law, and the loop's clocks busy and idle."""
    rng = random.Random(1)
    law = [next_interval(rng) for _ in range(100_000)]
    achieved = busy.sample_intervals
    print(f"\nclocks over {seconds:g} s at full rate:")
    print(
        f"  sampler intervals: {mean_sd(achieved)} over {len(achieved)} (its law: {mean_sd(law)})"
    )
    lags = busy.loop_lag
    print(f"  10 ms timer late by: {percentiles(lags)} (idle loop: {percentiles(idle.loop_lag)})")
    rtts = busy.rtt_probes
    print(f"  RTT probes: {percentiles(rtts)} (idle loop: {percentiles(idle.rtt_probes)})")


def mean_sd(values: list[float]) -> str:
    if len(values) < 2:
        return "too few"
    return (
        f"mean {statistics.mean(values) * 1e3:.0f} ms, sd {statistics.stdev(values) * 1e3:.0f} ms"
    )


def percentiles(values: list[float]) -> str:
    if len(values) < 2:
        return "too few"
    ordered = sorted(values)
    median, p99 = (
        ordered[len(ordered) // 2],
        ordered[min(len(ordered) - 1, len(ordered) * 99 // 100)],
    )
    return f"median {median * 1e3:.2f} ms, p99 {p99 * 1e3:.2f} ms, n {len(values)}"


@contextmanager
def loopback_source(parallel: int) -> Iterator[Source]:
    """``parallel`` lab origins on loopback, each in its own process."""
    with tempfile.TemporaryDirectory() as directory, ExitStack() as servers:
        pki = LabPKI(Path(directory), [HOST])
        ports = tuple(servers.enter_context(origin_process(pki)) for _ in range(parallel))
        yield Source(ports, "127.0.0.1", HOST, pki.ca_file)


@contextmanager
def origin_process(pki: LabPKI) -> Iterator[int]:
    argv = [sys.executable, "-m", "probe.lab.origin", "--cert", str(pki.cert_chain_file)]
    argv += ["--key", str(pki.key_file)]
    server = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert server.stdout is not None
        yield int(server.stdout.readline())
    finally:
        server.terminate()
        server.wait()


def through_the_lab(args: argparse.Namespace) -> None:
    """Build the lab and run this script's measuring part in its client namespace."""
    from probe.lab.control import fresh_lab
    from probe.lab.topology import Names, server

    with fresh_lab(Names("tpe")) as lab:
        settings = yaml.safe_load(lab.targets_file.read_text())["settings"]
        debian = server("debian")
        inner = [sys.executable, __file__, "--size-mib", str(args.size_mib)]
        inner += ["--runs", str(args.runs), "--parallel", str(args.parallel)]
        inner += ["--seconds", str(args.seconds)]
        inner += ["--at", debian.address, "--host", debian.hosts[0]]
        subprocess.run(lab.client_command([*inner, "--ca", settings["ca_bundle"]]), check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--parallel", type=int, default=1, help="downloads at once")
    parser.add_argument("--seconds", type=float, default=10, help="of the clocks' run")
    parser.add_argument("--lab", action="store_true", help="through the lab's router (root)")
    # The measuring part inside the lab (set by --lab): the server, its name and CA.
    parser.add_argument("--at", help=argparse.SUPPRESS)
    parser.add_argument("--host", help=argparse.SUPPRESS)
    parser.add_argument("--ca", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed: apt-get install curl")
    size = args.size_mib << 20
    if args.lab:
        through_the_lab(args)
    elif args.at is not None:
        source = Source((443,) * args.parallel, args.at, args.host, args.ca)
        measure(source, size, args.runs, args.seconds, "through the lab's router")
    else:
        with loopback_source(args.parallel) as source:
            measure(source, size, args.runs, args.seconds, "on loopback")


if __name__ == "__main__":
    main()
