"""Like with like: do small platform objects read as slow on a clean, real-length path?

    sudo .venv/bin/python bench/like_with_like.py [--rounds 5] [--rtt 50ms] [--rate 100mbit]

The lab's router adds --rtt to every round trip and limits the link to
--rate; its origin answers the built-in targets' URLs with objects of their
real sizes (a 160 KB home page, a 90 KB banner; the controls' megabytes).
`check` runs the built-in targets --rounds times, first asking for each
object once (`repeat_seconds: 0`, the old way) and then with the default
(a small object asked for again on its connection until max_bytes), and
once more with the 2021 policer on the Twitter names. Printed per target:
the median goodput, its ratio to the controls' median in the same round,
the verdicts, and the bytes downloaded. Needs root (lab "tpw").
"""

import argparse
import statistics
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import yaml

from probe.lab.control import Lab, fresh_lab
from probe.lab.scenarios import parse_composition
from probe.lab.topology import Names
from probe.units import format_rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--rtt", default="50ms")
    parser.add_argument("--rate", default="100mbit")
    args = parser.parse_args()
    clean = f"delay:rtt={args.rtt}+congested:rate={args.rate}"
    runs = [
        ("each object once", clean, 0.0),
        ("asked again on the connection (default)", clean, None),
        ("policed 150 kbit/s, default", f"{clean}+sni-police", None),
    ]
    with fresh_lab(Names("tpw")) as lab:
        for title, composition, repeat in runs:
            lab.apply(parse_composition(composition))
            targets = targets_file(lab, repeat)
            documents = []
            for number in range(args.rounds):
                documents.append(lab.check_document(["--no-replay"], targets))
                print(f"{title}: round {number + 1}/{args.rounds}", flush=True)
            print_table(f"{title} [{composition}]", documents)


def targets_file(lab: Lab, repeat_seconds: float | None) -> Path:
    """The lab's built-in targets, with ``repeat_seconds`` set when given."""
    document = yaml.safe_load(lab.field_targets_file.read_text())
    if repeat_seconds is not None:
        document["settings"]["repeat_seconds"] = repeat_seconds
    path = lab.state_dir / "like-with-like.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def print_table(title: str, documents: list[dict[str, Any]]) -> None:
    rates: defaultdict[str, list[float]] = defaultdict(list)
    ratios: defaultdict[str, list[float]] = defaultdict(list)
    verdicts: defaultdict[str, Counter[str]] = defaultdict(Counter)
    spent: defaultdict[str, list[int]] = defaultdict(list)
    roles = {}
    for document in documents:
        controls = [
            e["goodput_bytes_per_second"]
            for e in document["targets"]
            if e["role"] == "control" and e["goodput_bytes_per_second"]
        ]
        median = statistics.median(controls) if controls else None
        for entry in document["targets"]:
            name, rate = entry["name"], entry["goodput_bytes_per_second"]
            roles[name] = entry["role"]
            spent[name].append(entry["transfer"]["bytes"] if entry["transfer"] else 0)
            if entry.get("verdict"):
                verdicts[name][entry["verdict"]["verdict"]] += 1
            if rate:
                rates[name].append(rate)
                if median:
                    ratios[name].append(rate / median)
    print(f"\n{title}, {len(documents)} rounds")
    print(f"{'':18}{'goodput':>14}{'to controls':>13}{'bytes':>11}  verdicts")
    for name, role in roles.items():
        rate = format_rate(statistics.median(rates[name])) if rates[name] else "-"
        ratio = f"{statistics.median(ratios[name]):.2f}x" if ratios[name] else "-"
        mib = f"{statistics.median(spent[name]) / 2**20:.2f} MiB"
        said = ", ".join(f"{v} {n}" for v, n in verdicts[name].items()) or role
        print(f"{name:18}{rate:>14}{ratio:>13}{mib:>11}  {said}")


if __name__ == "__main__":
    main()
