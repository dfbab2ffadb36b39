"""How often is the verdict right, and what does it cost? A confusion matrix from the lab.

    sudo .venv/bin/python bench/lab_accuracy.py [--runs 3] [--scenarios clean,sni-police,...]

Every scenario of probe.lab.truth is applied in turn and `lab check` runs
--runs times under it, with the lab's default settings. Each target's verdict
is compared with the ground truth. Printed: the confusion matrix (rows: what
the lab did, columns: what the probe said), the scenarios with any mistake,
and the body bytes downloaded per target and round, by verdict. Needs root
(it builds a lab named "tpa" and removes it at the end).
"""

import argparse
import json
import statistics
import subprocess
from collections import Counter, defaultdict
from typing import Any

from probe.lab.control import Lab, fresh_lab
from probe.lab.scenarios import parse_composition
from probe.lab.topology import Names
from probe.lab.truth import EXPECTED, TARGETS, verdict_label

CLASSES = ["ok", "throttled", "blocked", "degraded", "inconclusive"]


def run_round(lab: Lab) -> list[dict[str, Any]]:
    done = subprocess.run(
        lab.check_command(["--json", "--no-replay"]), capture_output=True, text=True
    )
    if done.returncode != 0:
        raise SystemExit(f"lab check failed: {done.stderr.strip()}")
    return list(json.loads(done.stdout)["targets"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(EXPECTED))
    args = parser.parse_args()
    matrix: Counter[tuple[str, str]] = Counter()
    exact_mistakes: Counter[str] = Counter()
    bytes_by_verdict: defaultdict[str, list[int]] = defaultdict(list)
    with fresh_lab(Names("tpa")) as lab:
        for composition in args.scenarios.split(","):
            lab.apply(parse_composition(composition))
            for run in range(args.runs):
                entries = {e["name"]: e for e in run_round(lab)}
                for name in TARGETS:
                    entry = entries[name]
                    got = verdict_label(entry["verdict"])
                    truth = EXPECTED[composition][name]
                    matrix[(truth.split("/")[0], got.split("/")[0])] += 1
                    if got != truth:
                        exact_mistakes[f"{composition}: {name} was {truth}, said {got}"] += 1
                    transfer = entry["transfer"]
                    spent = transfer["bytes"] if transfer else 0
                    bytes_by_verdict[got].append(spent)
                print(f"{composition}: run {run + 1}/{args.runs} done", flush=True)
    print_report(matrix, exact_mistakes, bytes_by_verdict, args.runs)


def print_report(
    matrix: Counter[tuple[str, str]],
    mistakes: Counter[str],
    spent: defaultdict[str, list[int]],
    runs: int,
) -> None:
    print(f"\nconfusion matrix ({runs} runs per scenario; rows: truth, columns: verdict)")
    print(f"{'':>12}" + "".join(f"{c:>13}" for c in CLASSES))
    for truth in CLASSES[:4]:
        row = [matrix[(truth, got)] for got in CLASSES]
        if any(row):
            print(f"{truth:>12}" + "".join(f"{n:>13}" for n in row))
    total = sum(matrix.values())
    right = sum(n for (truth, got), n in matrix.items() if truth == got)
    exact = total - sum(mistakes.values())
    print(f"verdict right {right}/{total}; with mechanism and stage too: {exact}/{total}")
    for mistake, count in sorted(mistakes.items()):
        print(f"  {count}x {mistake}")
    print("\nbody bytes per target and round, by verdict (KiB): median / max")
    for verdict, amounts in sorted(spent.items()):
        median = statistics.median(amounts) / 1024
        print(f"  {verdict:>20} {median:8.0f} / {max(amounts) / 1024:.0f}")


if __name__ == "__main__":
    main()
