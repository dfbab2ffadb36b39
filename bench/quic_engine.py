"""The QUIC engine alone: its CPU per GiB beside TCP's, and what it measures of shaped links.

    .venv/bin/python bench/quic_engine.py [--size-mib 128] [--runs 3]
    sudo .venv/bin/python bench/quic_engine.py --lab [--rates 1mbit,10mbit,100mbit] [--seconds 10]

Without --lab: the lab's origin (TCP) and HTTP/3 origin (QUIC) each run in a
process of their own on loopback, and the engine downloads the same object
over each transport. Printed per transport: bytes over the whole transfer
time, and the engine's CPU seconds per GiB (its process's user + system
time over the download). aioquic is pure Python above its C crypto and
packet buffers, so QUIC costs far more than TCP: this says how much.

With --lab (root): a lab named "tpq" is built, deb.debian.org's server is
shaped to each rate in turn (an htb class, as the shape scenario does), and
the engine downloads from it over QUIC alone for --seconds. Printed: the
configured rate, the measured goodput and their ratio (the aim: within 10%).
"""

import argparse
import asyncio
import json
import resource
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from probe.lab.pki import LabPKI
from probe.measure.quic import QuicTrust, download_quic
from probe.measure.timing import Clock
from probe.measure.transfer import TransferSettings, download, make_ssl_context
from probe.records import TransferRecord

HOST = "bench.test"
GIB = 1 << 30


def start(module: str, pki: LabPKI) -> tuple[subprocess.Popen[str], int]:
    """A lab origin (``probe.lab.origin`` or ``probe.lab.origin3``) in its own process."""
    argv = [sys.executable, "-m", module, "--cert", str(pki.cert_chain_file)]
    server = subprocess.Popen(
        [*argv, "--key", str(pki.key_file)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    return server, int(server.stdout.readline())


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def one_download(url: str, size: int, pki: LabPKI, quic: bool) -> tuple[float, float]:
    """(bytes/s over the whole transfer, CPU seconds per GiB) of one download."""
    settings = TransferSettings(
        transfer_timeout=600, max_bytes=size + 1, repeat_seconds=0, stop_at_plateau=False
    )

    async def run() -> TransferRecord:
        clock = Clock()
        if quic:
            trust = QuicTrust(pki.ca_file)
            return await download_quic(url, "127.0.0.1", settings, trust, clock)
        context = make_ssl_context(pki.ca_file)
        return await download(url, "127.0.0.1", settings, context, clock)

    before = cpu_seconds()
    record = asyncio.run(run())
    used = cpu_seconds() - before
    if record.failure is not None or record.bytes != size:
        raise SystemExit(f"the download failed: {record.failure}, {record.bytes} bytes")
    return record.bytes / (record.t - record.t0), used / (record.bytes / GIB)


def loopback(size_mib: int, runs: int) -> None:
    size = size_mib << 20
    with tempfile.TemporaryDirectory() as directory:
        pki = LabPKI(Path(directory), [HOST])
        for label, module, quic in (
            ("tcp", "probe.lab.origin", False),
            ("quic", "probe.lab.origin3", True),
        ):
            server, port = start(module, pki)
            try:
                figures = [
                    one_download(f"https://{HOST}:{port}/bytes/{size}", size, pki, quic)
                    for _ in range(runs)
                ]
            finally:
                server.terminate()
                server.wait()
            rates = [rate * 8 / 1e9 for rate, _ in figures]
            cpu = [per_gib for _, per_gib in figures]
            print(
                f"{label:>4}: {statistics.median(rates):6.3f} Gbit/s "
                f"(min {min(rates):.3f}, max {max(rates):.3f}), "
                f"{statistics.median(cpu):6.2f} CPU s/GiB "
                f"(min {min(cpu):.2f}, max {max(cpu):.2f}), "
                f"{size_mib} MiB x {runs}"
            )


def shaped(rates: list[str], seconds: float) -> None:
    from probe.lab.control import fresh_lab
    from probe.lab.scenarios import parse_composition, parse_rate
    from probe.lab.topology import Names

    with fresh_lab(Names("tpq")) as lab, tempfile.TemporaryDirectory() as directory:
        config = yaml.safe_load(lab.targets_file.read_text())
        debian = [
            t for t in config["groups"]["control"]["targets"] if t["name"] == "deb-debian-org"
        ]
        debian[0]["transports"] = ["quic"]  # the lab's servers offer HTTP/3 on the URL's port
        config["groups"] = {"control": {"role": "control", "targets": debian}}
        config.pop("sni_swap", None)
        config.pop("replay", None)
        targets = Path(directory) / "quic.yaml"
        targets.write_text(yaml.safe_dump(config))
        print(f"{'configured':>12} {'measured':>14} {'ratio':>6}")
        for rate in rates:
            lab.apply(parse_composition(f"shape:server=debian,rate={rate}"))
            args = f"--json --timeout {seconds} --max-bytes {10**10}".split()
            done = subprocess.run(lab.check_command(args, targets), capture_output=True, text=True)
            (entry,) = json.loads(done.stdout)["targets"]
            goodput = entry["goodput_bytes_per_second"]
            if goodput is None:
                raise SystemExit(f"QUIC measured nothing at {rate}: {entry['failure']}")
            configured = parse_rate(rate)
            measured = goodput * 8
            print(f"{rate:>12} {measured / 1e6:9.3f} Mbit/s {measured / configured:6.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--lab", action="store_true", help="shaped rates in the lab (root)")
    parser.add_argument("--rates", default="1mbit,10mbit,100mbit")
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    if args.lab:
        shaped(args.rates.split(","), args.seconds)
    else:
        loopback(args.size_mib, args.runs)


if __name__ == "__main__":
    main()
