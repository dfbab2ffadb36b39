"""The replay test in the lab: what each ClientHello gets, in each direction, per scenario.

    sudo .venv/bin/python bench/lab_replay.py [--runs 3] [--scenarios clean,sni-police,...]

`lab check --group control` runs --runs times under each scenario against
the lab's own `throttle-probe serve`. Printed per scenario, direction and
ClientHello: how often each outcome came (against the scrambled baseline),
the median goodput and the median bytes the session moved. Needs root (it
builds a lab named "tpr" and removes it at the end).
"""

import argparse
import json
import statistics
import subprocess
from collections import Counter, defaultdict
from typing import Any

from probe.lab.control import Lab
from probe.lab.scenarios import parse_composition
from probe.lab.topology import Names
from probe.units import format_rate


def run_round(lab: Lab) -> dict[str, Any]:
    argv = lab.check_command(["--json", "--group", "control"])
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"lab check failed: {done.stderr.strip()}")
    document: dict[str, Any] = json.loads(done.stdout)
    return document


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="clean,sni-police,sni-police+congested:rate=20mbit")
    args = parser.parse_args()
    lab = Lab(Names("tpr"))
    lab.down()
    lab.up()
    try:
        for composition in args.scenarios.split(","):
            lab.apply(parse_composition(composition))
            states: defaultdict[tuple[str, str], Counter[str]] = defaultdict(Counter)
            rates: defaultdict[tuple[str, str], list[float]] = defaultdict(list)
            moved: defaultdict[tuple[str, str], list[int]] = defaultdict(list)
            for _ in range(args.runs):
                document = run_round(lab)
                for outcome, record in zip(
                    document["replay"]["outcomes"], document["replays"], strict=True
                ):
                    key = (outcome["direction"], f"{outcome['variant']} {outcome['sni']}")
                    states[key][outcome["state"]] += 1
                    if outcome["goodput_bytes_per_second"] is not None:
                        rates[key].append(outcome["goodput_bytes_per_second"])
                    moved[key].append(record["bytes"])
            print(f"\n{composition} ({args.runs} runs)")
            columns = ("direction", "ClientHello", "outcomes", "goodput", "KiB")
            print("  {:<9} {:<26} {:<24} {:>12} {:>7}".format(*columns))
            for key, counter in states.items():
                outcome_text = ", ".join(f"{state} {n}" for state, n in counter.most_common())
                rate = format_rate(statistics.median(rates[key])) if rates[key] else "-"
                kib = statistics.median(moved[key]) / 1024
                print(f"  {key[0]:<9} {key[1]:<26} {outcome_text:<24} {rate:>12} {kib:>7.0f}")
    finally:
        lab.down()


if __name__ == "__main__":
    main()
