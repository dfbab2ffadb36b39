"""Does the engine measure what the link does? Shaped rates in the lab, engine beside curl.

    sudo .venv/bin/python bench/lab_fidelity.py [--seconds 10] [--rates 150kbit,1mbit,...]
                                                [--repeat N]

For each rate, two lab servers (deb.debian.org and speed.cloudflare.com) are
shaped to it in separate htb classes of the same router link; the engine
downloads from one while curl downloads from the other, at the same time, for
the same number of seconds. Printed: the configured rate, each tool's measured
rate and its ratio to the configured one. The engine's figure is its goodput
(slow start left out); curl's is its own average over the whole transfer.
Needs root (it builds a lab named "tpb" and removes it at the end).
"""

import argparse
import json
import statistics
import subprocess
import tempfile
from pathlib import Path

import yaml

from probe.lab.control import Lab, fresh_lab
from probe.lab.scenarios import parse_composition, parse_rate
from probe.lab.topology import Names

ENGINE_HOST, CURL_HOST = "deb.debian.org", "speed.cloudflare.com"
ENGINE_TARGET = "deb-debian-org"


def engine_only_targets(lab: Lab, directory: Path) -> Path:
    config = yaml.safe_load(lab.targets_file.read_text())
    targets = [t for t in config["groups"]["control"]["targets"] if t["name"] == ENGINE_TARGET]
    config["groups"] = {"control": {"role": "control", "targets": targets}}
    config.pop("sni_swap", None)  # one download at a time: the engine's alone
    path = directory / "engine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def measure(lab: Lab, targets: Path, seconds: float) -> tuple[float, float]:
    """(engine, curl) in bit/s, measured side by side."""
    engine_args = f"--json --timeout {seconds} --max-bytes {10**10}".split()
    engine_cmd = lab.check_command(engine_args, targets)
    ca_file = lab.state_dir / "pki" / "ca.pem"
    curl_cmd = lab.client_command(
        f"curl --silent --output /dev/null --max-time {seconds} --cacert {ca_file} "
        f"--write-out %{{speed_download}} https://{CURL_HOST}/bytes/{10**10}".split()
    )
    engine = subprocess.Popen(
        engine_cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    curl = subprocess.Popen(curl_cmd, stdout=subprocess.PIPE, text=True)
    engine_out, _ = engine.communicate()
    curl_out, _ = curl.communicate()  # exit code 28: --max-time ended it, as intended
    # The TCP download: the round repeats it over QUIC afterwards, not alongside.
    (entry,) = [e for e in json.loads(engine_out)["targets"] if e["transport"] == "tcp"]
    if entry["goodput_bytes_per_second"] is None:
        raise SystemExit(f"engine measured nothing: {entry['failure']}")
    return entry["goodput_bytes_per_second"] * 8, float(curl_out) * 8


def human(bits: float) -> str:
    return f"{bits / 1e6:9.3f} Mbit/s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rates", default="150kbit,1mbit,10mbit,100mbit")
    parser.add_argument("--repeat", type=int, default=1, help="measurements per rate")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    with fresh_lab(Names("tpb")) as lab, tempfile.TemporaryDirectory() as directory:
        targets = engine_only_targets(lab, Path(directory))
        if args.repeat == 1:
            print(f"{'configured':>16} {'engine':>16} {'ratio':>6} {'curl':>16} {'ratio':>6}")
        else:
            print(f"{'configured':>16} {'runs':>4}  engine ratio min/median/max  curl ditto")
        for rate_text in args.rates.split(","):
            rate = parse_rate(rate_text)
            lab.apply(parse_composition(f"shape:rate={rate_text},server=debian|speedtest"))
            runs = [measure(lab, targets, args.seconds) for _ in range(args.repeat)]
            print(row(rate, runs), flush=True)


def row(rate: float, runs: list[tuple[float, float]]) -> str:
    if len(runs) == 1:
        ((engine, curl),) = runs
        return (
            f"{human(rate)} {human(engine)} {engine / rate:6.3f} {human(curl)} {curl / rate:6.3f}"
        )
    engine_ratios = spread([e / rate for e, _ in runs])
    curl_ratios = spread([c / rate for _, c in runs])
    return f"{human(rate)} {len(runs):4}  {engine_ratios:>28}  {curl_ratios}"


def spread(ratios: list[float]) -> str:
    return f"{min(ratios):.3f}/{statistics.median(ratios):.3f}/{max(ratios):.3f}"


if __name__ == "__main__":
    main()
