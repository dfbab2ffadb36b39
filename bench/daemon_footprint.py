"""The daemon's footprint over many rounds, and its scrape latency under load, in the lab.

    sudo .venv/bin/python bench/daemon_footprint.py [--rounds 1000] [--scrapers 200]

Part 1: `throttle-probe run` in the lab's client namespace, rounds back to
back (interval 0, 64 KiB downloads, no SNI swap or replay) on a clean
network, for --rounds rounds. Printed: resident memory after the first round
and at the end, CPU seconds per round, and the number of series exposed
after 10 rounds and at the end (they must not grow with rounds).

Part 2: under SNI policing (rounds last ~10 s, so scrapes meet a round
under way), --scrapers concurrent scrapers each fetch /metrics once a second,
each on a new connection, for --seconds. Printed: scrape latency p50, p99
and max, and how many scrapes failed.

Needs root (it builds a lab named "tpb" and removes it at the end).
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from probe.lab.control import Lab, fresh_lab
from probe.lab.scenarios import parse_composition
from probe.lab.topology import Names

PORT = 10130


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1000)
    parser.add_argument("--scrapers", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--scrape-load", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scrape_load is not None:  # part 2's load, run inside the client namespace
        latencies, failed = asyncio.run(scrape_load(args.scrape_load, args.scrapers, args.seconds))
        print(json.dumps({"latencies": latencies, "failed": failed}))
        return
    with fresh_lab(Names("tpb")) as lab, tempfile.TemporaryDirectory() as directory:
        targets = light_targets(lab, Path(directory))
        footprint(lab, targets, args.rounds)
        scrape_latency(lab, targets, args.scrapers, args.seconds)


def light_targets(lab: Lab, directory: Path) -> Path:
    config = yaml.safe_load(lab.targets_file.read_text())
    config.pop("sni_swap")
    config.pop("replay")
    config["settings"]["max_bytes"] = 64 * 1024
    config["daemon"] = {"interval": 0, "jitter": 0, "window": 6, "daily_budget": "1PB"}
    path = directory / "targets.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def start_daemon(lab: Lab, targets: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-m", "probe", "run", "--targets", str(targets)]
    argv += ["--listen", f"127.0.0.1:{PORT}"]
    # `ip netns exec` execs the daemon: the pid is the daemon's own.
    return subprocess.Popen(lab.client_command(argv), stderr=subprocess.DEVNULL)


def scrape(lab: Lab) -> str:
    command = lab.client_command(["curl", "-sf", f"http://127.0.0.1:{PORT}/metrics"])
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def rounds_done(text: str) -> int:
    for line in text.splitlines():
        if line.startswith("throttle_probe_rounds_total "):
            return int(float(line.split()[1]))
    return 0


def wait_rounds(lab: Lab, rounds: int) -> str:
    while True:
        try:
            text = scrape(lab)
            if rounds_done(text) >= rounds:
                return text
        except subprocess.CalledProcessError:
            pass  # not listening yet
        time.sleep(0.05)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / 100  # utime + stime, in clock ticks


def series(text: str) -> int:
    return sum(1 for line in text.splitlines() if line and not line.startswith("#"))


def footprint(lab: Lab, targets: Path, rounds: int) -> None:
    lab.apply(parse_composition("clean"))
    daemon = start_daemon(lab, targets)
    checkpoints = sorted({1, 10, *(n for n in (100, 250, 500, 750) if n < rounds), rounds})
    memory: dict[int, float] = {}
    try:
        for checkpoint in checkpoints:
            text = wait_rounds(lab, checkpoint)
            memory[checkpoint] = rss_mib(daemon.pid)
            if checkpoint == 1:
                cpu_start, started = cpu_seconds(daemon.pid), time.time()
            if checkpoint == 10:
                series_early = series(text)
        counted = rounds_done(text) - 1
        cpu_end, elapsed = cpu_seconds(daemon.pid), time.time() - started
    finally:
        daemon.terminate()
        daemon.wait()
    print(f"footprint over {rounds} rounds (clean lab, 8 downloads of 64 KiB a round)")
    for checkpoint, rss in memory.items():
        print(f"  RSS after round {checkpoint:<6}  {rss:7.1f} MiB")
    print(f"  growth from round 1     {memory[rounds] - memory[1]:+7.1f} MiB")
    print(f"  CPU per round           {(cpu_end - cpu_start) / counted * 1000:7.1f} ms")
    print(f"  wall time per round     {elapsed / counted * 1000:7.1f} ms")
    print(f"  series after 10 rounds  {series_early:7d}")
    print(f"  series at the end       {series(text):7d}")


def scrape_latency(lab: Lab, targets: Path, scrapers: int, seconds: float) -> None:
    lab.apply(parse_composition("sni-police"))
    daemon = start_daemon(lab, targets)
    try:
        wait_rounds(lab, 1)
        load = [sys.executable, __file__, "--scrape-load", str(PORT)]
        load += ["--scrapers", str(scrapers), "--seconds", str(seconds)]
        done = subprocess.run(lab.client_command(load), capture_output=True, text=True, check=True)
        rounds = rounds_done(scrape(lab))
    finally:
        daemon.terminate()
        daemon.wait()
    result = json.loads(done.stdout)
    latencies = sorted(result["latencies"])
    p50 = statistics.median(latencies) * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(f"\nscrape latency, {scrapers} scrapers each once a second for {seconds:.0f} s,")
    print(f"while rounds run under sni-police ({rounds} rounds done by the end)")
    print(f"  scrapes {len(latencies)}, failed {result['failed']}")
    print(f"  p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {latencies[-1] * 1000:.1f} ms")


async def scrape_load(port: int, scrapers: int, seconds: float) -> tuple[list[float], int]:
    latencies: list[float] = []
    failed = 0
    loop = asyncio.get_running_loop()
    ends = loop.time() + seconds

    async def one(offset: float) -> None:
        nonlocal failed
        await asyncio.sleep(offset)  # spread the scrapers over the second
        while loop.time() < ends:
            begun = loop.time()
            try:
                await fetch(port)
                latencies.append(loop.time() - begun)
            except OSError:
                failed += 1
            await asyncio.sleep(max(0.0, begun + 1.0 - loop.time()))

    await asyncio.gather(*(one(i / scrapers) for i in range(scrapers)))
    return latencies, failed


async def fetch(port: int) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
    await writer.drain()
    response = await reader.read()
    writer.close()
    if not response.startswith(b"HTTP/1.1 200"):
        raise OSError("not a 200")


if __name__ == "__main__":
    main()
