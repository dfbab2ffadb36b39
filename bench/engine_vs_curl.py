"""Throughput of the engine against curl, from a local TLS server on loopback.

    python bench/engine_vs_curl.py [--size-mib 1024] [--runs 3]

The server runs in its own process (so that it does not share the engine's
interpreter lock). Each run downloads the same object once with the engine
and once with curl; the rates are bytes over the whole transfer time
(connect to last byte), curl's own definition of speed_download. The engine's
CPU seconds per GiB are its process's user+system time over the download.
"""

import argparse
import asyncio
import resource
import shutil
import socket
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from probe.lab.pki import LabPKI
from probe.measure.timing import Clock
from probe.measure.transfer import TransferSettings, download, make_ssl_context

HOST = "bench.test"
GIB = 1 << 30


def start_server(pki: LabPKI) -> tuple[subprocess.Popen[str], int]:
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "probe.lab.origin",
            "--cert",
            str(pki.cert_chain_file),
            "--key",
            str(pki.key_file),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def engine_run(url: str, size: int, pki: LabPKI) -> tuple[float, float, float]:
    """(bytes/s over the whole transfer, goodput bytes/s, CPU seconds) of one download."""
    # One request: the bench times one object, not the repeats on the same connection.
    settings = TransferSettings(transfer_timeout=600, max_bytes=size + 1, repeat_seconds=0)

    async def run() -> tuple[float, float, float]:
        context = make_ssl_context(pki.ca_file)
        cpu_before = cpu_seconds()
        record = await download(url, "127.0.0.1", settings, context, Clock())
        cpu = cpu_seconds() - cpu_before
        if record.failure is not None or record.bytes != size:
            raise SystemExit(f"engine download failed: {record.failure}, {record.bytes} bytes")
        return record.bytes / (record.t - record.t0), record.goodput_bytes_per_second or 0.0, cpu

    return asyncio.run(run())


def floor_run(port: int, size: int, pki: LabPKI) -> tuple[float, float]:
    """(bytes/s, CPU seconds) of the least a Python client can do: blocking reads, no probe.

    The floor the engine is measured against: one ``ssl`` socket, one GET,
    ``recv_into`` a 1 MiB buffer until the body is in. What the engine spends
    above it is the probe's own cost (HTTP, samples, TCP_INFO, RTT probes).
    """
    context = ssl.create_default_context(cafile=str(pki.ca_file))
    raw = socket.create_connection(("127.0.0.1", port))
    with context.wrap_socket(raw, server_hostname=HOST) as tls:
        tls.sendall(f"GET /bytes/{size} HTTP/1.1\r\nHost: {HOST}\r\n\r\n".encode())
        buffer = memoryview(bytearray(1 << 20))
        received, cpu_before, started = 0, cpu_seconds(), time.monotonic()
        while received < size:  # the headers count too: a few hundred bytes in a GiB
            count = tls.recv_into(buffer)
            if count == 0:
                raise SystemExit("the floor's download ended early")
            received += count
        return received / (time.monotonic() - started), cpu_seconds() - cpu_before


def curl_run(url: str, port: int, size: int, pki: LabPKI) -> float:
    done = subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--output",
            "/dev/null",
            "--cacert",
            str(pki.ca_file),
            "--resolve",
            f"{HOST}:{port}:127.0.0.1",
            "--write-out",
            "%{speed_download} %{size_download}",
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    speed, downloaded = done.stdout.split()
    if int(downloaded) != size:
        raise SystemExit(f"curl downloaded {downloaded} bytes, expected {size}")
    return float(speed)


def gbit(bytes_per_second: float) -> str:
    return f"{bytes_per_second * 8 / 1e9:6.2f} Gbit/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("curl") is None:
        raise SystemExit("curl is not installed: apt-get install curl")
    size = args.size_mib << 20
    with tempfile.TemporaryDirectory() as directory:
        pki = LabPKI(Path(directory), [HOST])
        server, port = start_server(pki)
        url = f"https://{HOST}:{port}/bytes/{size}"
        try:
            rows = []
            for run in range(1, args.runs + 1):
                rate, goodput, cpu = engine_run(url, size, pki)
                curl = curl_run(url, port, size, pki)
                floor, floor_cpu = floor_run(port, size, pki)
                rows.append((rate, goodput, cpu, curl, floor, floor_cpu))
                print(
                    f"run {run}: engine {gbit(rate)} (goodput {gbit(goodput)}), "
                    f"curl {gbit(curl)}, floor {gbit(floor)}; CPU s/GiB: "
                    f"engine {cpu / (size / GIB):.2f}, floor {floor_cpu / (size / GIB):.2f}",
                    flush=True,
                )
        finally:
            server.terminate()
            server.wait()
    engine = statistics.median(r[0] for r in rows)
    curl = statistics.median(r[3] for r in rows)
    cpu_per_gib = statistics.median(r[2] for r in rows) / (size / GIB)
    floor = statistics.median(r[4] for r in rows)
    floor_cpu_per_gib = statistics.median(r[5] for r in rows) / (size / GIB)
    print(f"\nmedian of {args.runs} runs of {args.size_mib} MiB over TLS on loopback:")
    print(f"  engine  {gbit(engine)}")
    print(f"  curl    {gbit(curl)}")
    print(f"  floor   {gbit(floor)} (blocking recv_into, no probe)")
    print(f"  ratio   {engine / curl:.2f} (engine / curl)")
    print(f"  engine CPU {cpu_per_gib:.2f} s per GiB (floor {floor_cpu_per_gib:.2f})")


if __name__ == "__main__":
    main()
