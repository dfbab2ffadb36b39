"""How often is the verdict right, and what does it cost? A confusion matrix from the lab.

    sudo .venv/bin/python bench/lab_accuracy.py [--runs 3] [--scenarios clean,sni-police,...]

Every scenario of probe.lab.truth is applied in turn and `lab check` runs
--runs times under it, with the lab's default settings. Each target's verdict
is compared with the ground truth. Printed: the confusion matrix (rows: what
the lab did, columns: what the probe said), the scenarios with any mistake,
the body bytes downloaded per target and round, by verdict, the verdicts that
were right by probe.lab.truth.ALSO_RIGHT, the controls' pooled out-of-order
share per scenario (what tells random loss) and the SNI swap's outcomes per
scenario. Needs root (it builds a lab named "tpa" and removes it at the end).
"""

import argparse
import statistics
from collections import Counter, defaultdict

from probe.lab.control import fresh_lab
from probe.lab.scenarios import parse_composition
from probe.lab.topology import Names
from probe.lab.truth import EXPECTED, TARGETS, is_right, verdict_label
from probe.records import VerdictKind

CLASSES = [str(kind) for kind in VerdictKind]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default=",".join(EXPECTED))
    args = parser.parse_args()
    matrix: Counter[tuple[str, str]] = Counter()
    exact_mistakes: Counter[str] = Counter()
    also_right: Counter[str] = Counter()
    out_of_order: defaultdict[str, list[float]] = defaultdict(list)
    swap_states: defaultdict[str, Counter[str]] = defaultdict(Counter)
    bytes_by_verdict: defaultdict[str, list[int]] = defaultdict(list)
    with fresh_lab(Names("tpa")) as lab:
        for composition in args.scenarios.split(","):
            lab.apply(parse_composition(composition))
            for run in range(args.runs):
                document = lab.check_document(["--no-replay"])
                entries = {e["name"]: e for e in document["targets"]}
                swap_states[composition].update(o["state"] for o in document["sni_swap"].values())
                share = entries[TARGETS[0]]["evidence"]["controls"]["out_of_order_share"]
                if share is not None:
                    out_of_order[composition].append(share)
                for name in TARGETS:
                    entry = entries[name]
                    got = verdict_label(entry["verdict"])
                    truth = EXPECTED[composition][name]
                    if got != truth and is_right(composition, name, got):
                        also_right[f"{composition}: {name} said {got}"] += 1
                        truth = got
                    matrix[(truth.split("/")[0], got.split("/")[0])] += 1
                    if got != truth:
                        exact_mistakes[f"{composition}: {name} was {truth}, said {got}"] += 1
                    transfer = entry["transfer"]
                    spent = transfer["bytes"] if transfer else 0
                    bytes_by_verdict[got].append(spent)
                print(f"{composition}: run {run + 1}/{args.runs} done", flush=True)
    print_report(matrix, exact_mistakes, bytes_by_verdict, args.runs)
    print_network_evidence(also_right, out_of_order, swap_states)


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


def print_network_evidence(
    also_right: Counter[str],
    out_of_order: dict[str, list[float]],
    swap_states: dict[str, Counter[str]],
) -> None:
    print("\nright by ALSO_RIGHT (the other answer the scenario allows)")
    for verdict, count in sorted(also_right.items()):
        print(f"  {count}x {verdict}")
    print("\ncontrols' out-of-order share, pooled, per round (%): median / min / max")
    for composition, shares in out_of_order.items():
        low, high = min(shares) * 100, max(shares) * 100
        print(
            f"  {composition:>34} {statistics.median(shares) * 100:6.2f} / {low:.2f} / {high:.2f}"
        )

    print("\nSNI swap outcomes per scenario (every swap name of every round)")
    for composition, states in swap_states.items():
        counts = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
        print(f"  {composition:>34} {counts}")


if __name__ == "__main__":
    main()
