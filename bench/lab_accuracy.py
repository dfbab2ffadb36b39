"""How often is the verdict right, and what does it cost? A confusion matrix from the lab.

    sudo .venv/bin/python bench/lab_accuracy.py [--runs 3] [--scenario clean]...
                                                [--history N] [--long ROUNDS]

Every scenario of probe.lab.truth is applied in turn and `lab check` runs
--runs times under it, with the lab's default settings. Each target's verdict
is compared with the ground truth. Printed: the confusion matrix (rows: what
the lab did, columns: what the probe said), the scenarios with any mistake,
the body bytes and seconds each download took, by verdict, the verdicts that
were right by probe.lab.truth.ALSO_RIGHT, the controls' pooled out-of-order
share per scenario (what tells random loss) and the SNI swap's outcomes per
scenario.

Two parts need the daemon and many rounds, read back from its archive:
``--history N`` runs probe.lab.truth's shaped-after-a-clean-history scenario
N times (how many rounds after the change the window said throttled, by
which rule; whether any single round did), and ``--long ROUNDS`` runs each of
probe.lab.truth.LONG_RUNS (clean, lossy, congested) for that many rounds and
counts every round's and window's verdicts (none may be throttled or blocked). Needs
root (it builds a lab named "tpa" and removes it at the end).
"""

import argparse
import statistics
import tempfile
from collections import Counter, defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from probe.lab.control import Lab, fresh_lab
from probe.lab.daemon import LabDaemon, daemon_targets
from probe.lab.scenarios import parse_composition
from probe.lab.topology import Names
from probe.lab.truth import (
    EXPECTED,
    HISTORY_CLEAN,
    HISTORY_MAX_BYTES,
    HISTORY_SHAPED,
    HISTORY_TARGETS,
    LONG_RUN_TARGETS,
    LONG_RUNS,
    TARGETS,
    LongRun,
    archived_labels,
    is_right,
)
from probe.records import Rule, TransferRecord, Transport, VerdictKind
from probe.schema import ArchiveEntry, decode_round

CLASSES = [str(kind) for kind in VerdictKind]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--scenario",
        action="append",
        dest="scenarios",
        help="a composition of probe.lab.truth to run (repeat for several; default: all)",
    )
    parser.add_argument("--history", type=int, default=0, metavar="N")
    parser.add_argument("--long", type=int, default=0, metavar="ROUNDS")
    args = parser.parse_args()
    matrix: Counter[tuple[str, str]] = Counter()
    exact_mistakes: Counter[str] = Counter()
    also_right: Counter[str] = Counter()
    out_of_order: defaultdict[str, list[float]] = defaultdict(list)
    own_out_of_order: defaultdict[str, list[float]] = defaultdict(list)
    swap_states: defaultdict[str, Counter[str]] = defaultdict(Counter)
    # Each download's bytes, seconds and scenario, by verdict
    cost_by_verdict: defaultdict[str, list[Cost]] = defaultdict(list)
    with fresh_lab(Names("tpa")) as lab:
        for composition in (args.scenarios or list(EXPECTED)) if args.runs else []:
            lab.apply(parse_composition(composition))
            for run in range(args.runs):
                document = decode_round(lab.check_document(["--no-replay"]))
                entries = {e.name: e for e in document.entries_over(Transport.TCP)}
                verdicts = document.verdicts(Transport.TCP)
                swap_states[composition].update(o.state for o in document.sni_swap.values())
                controls = verdicts[TARGETS[0]].evidence.controls
                if controls is not None and controls.out_of_order_share is not None:
                    out_of_order[composition].append(controls.out_of_order_share)
                for name in TARGETS:
                    entry = entries[name]
                    got = verdicts[name].label
                    truth = EXPECTED[composition][name]
                    if got != truth and is_right(composition, name, got):
                        also_right[f"{composition}: {name} said {got}"] += 1
                        truth = got
                    matrix[(truth.split("/")[0], got.split("/")[0])] += 1
                    if got != truth:
                        exact_mistakes[f"{composition}: {name} was {truth}, said {got}"] += 1
                    own = verdicts[name].evidence.out_of_order_share
                    if EXPECTED[composition][name].startswith("throttled") and own is not None:
                        own_out_of_order[composition].append(own)
                    cost_by_verdict[got].append(_cost(entry.transfer, composition))
                print(f"{composition}: run {run + 1}/{args.runs} done", flush=True)
        histories = [history_trial(lab, Path(tmp)) for tmp in _directories(args.history)]
        long_runs = [(run, long_run(lab, run, args.long)) for run in LONG_RUNS if args.long]
    if args.runs:
        print_report(matrix, exact_mistakes, cost_by_verdict, args.runs)
        print_network_evidence(also_right, out_of_order, own_out_of_order, swap_states)
    if histories:
        print_histories(histories)
    if long_runs:
        print_long_runs(long_runs)


@dataclass(frozen=True)
class Cost:
    """What one target's download spent in one round, and under which scenario."""

    bytes: int
    seconds: float  # from the connect to the last byte or the stop
    composition: str


def _cost(transfer: TransferRecord | None, composition: str) -> Cost:
    if transfer is None:
        return Cost(0, 0.0, composition)
    return Cost(transfer.bytes, transfer.t - transfer.t0, composition)


def _directories(count: int) -> Iterator[str]:
    for _ in range(count):
        with tempfile.TemporaryDirectory() as directory:
            yield directory


@dataclass(frozen=True)
class HistoryTrial:
    """One shaped-after-a-clean-history trial, as the report prints it."""

    caught: dict[str, tuple[int | None, Rule | None]]  # by name: first window throttled, rule
    round_throttled: int  # single rounds that said throttled
    false_windows: int  # window verdicts throttled before the change
    out_of_order: list[float]  # the shaped targets' own shares after the change


def history_trial(lab: Lab, directory: Path) -> HistoryTrial:
    """Clean rounds, then the shaping: when did the window say throttled, and how."""
    lab.apply(parse_composition(HISTORY_CLEAN))
    targets = daemon_targets(lab, directory / "targets.yaml", HISTORY_MAX_BYTES, window=6)
    with LabDaemon(lab, targets, directory) as daemon:
        clean = len(daemon.wait_for(6, 300))
        lab.apply(parse_composition(HISTORY_SHAPED))
        rounds = daemon.wait_for(clean + 8, 300)
    after = rounds[clean + 1 :]  # the round under way at the change belongs to neither side
    caught: dict[str, tuple[int | None, Rule | None]] = {}
    for name in HISTORY_TARGETS:
        said = [archived_labels(entry, "window")[name] for entry in after]
        first = next((i for i, label in enumerate(said) if label.startswith("throttled")), None)
        rule = None if first is None else after[first].window_over()[name].rule
        caught[name] = (first, rule)
    round_throttled = sum(
        label.startswith("throttled")
        for entry in rounds
        for label in archived_labels(entry, "round").values()
    )
    false_windows = sum(
        label.startswith("throttled")
        for entry in rounds[:clean]
        for label in archived_labels(entry, "window").values()
    )
    shaped_out_of_order = [
        share
        for entry in after
        for name, verdict in entry.verdicts(Transport.TCP).items()
        if name in HISTORY_TARGETS and (share := verdict.evidence.out_of_order_share) is not None
    ]
    print(f"history trial done: {caught}", flush=True)
    return HistoryTrial(caught, round_throttled, false_windows, shaped_out_of_order)


def long_run(lab: Lab, run: LongRun, rounds: int) -> Counter[tuple[str, str]]:
    """``rounds`` rounds of the daemon on ``run``'s network: (scope, verdict) counts,
    the scope ``round`` or ``window`` over TCP, ``quic round`` or ``quic window``."""
    lab.apply(parse_composition(run.composition))
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        names = list(LONG_RUN_TARGETS)
        targets = daemon_targets(lab, directory / "targets.yaml", run.max_bytes, 6, names)
        with LabDaemon(lab, targets, directory) as daemon:
            entries = daemon.wait_for(rounds, rounds * 60)[:rounds]
    print(f"long run done: {run.composition}", flush=True)
    counts = Counter(
        (scope, label)
        for entry in entries
        for scope in ("round", "window")
        for label in archived_labels(entry, scope).values()
    )
    counts.update(("quic " + scope, label) for entry in entries for scope, label in _quic(entry))
    return counts


def _quic(entry: ArchiveEntry) -> list[tuple[str, str]]:
    """The (scope, label) of every verdict over QUIC in an archived round."""
    judged = [("round", v.label) for v in entry.verdicts(Transport.QUIC).values()]
    return judged + [("window", v.label) for v in entry.window_over(Transport.QUIC).values()]


def _spread(shares: list[float]) -> str:
    """Median / min / max of ``shares`` as percentages."""
    low, high = min(shares) * 100, max(shares) * 100
    return f"{statistics.median(shares) * 100:6.2f} / {low:.2f} / {high:.2f}"


def print_histories(histories: list[HistoryTrial]) -> None:
    print(f"\nshaped after a clean history ({HISTORY_SHAPED}), {len(histories)} trials")
    for number, trial in enumerate(histories, start=1):
        caught = ", ".join(
            f"{name} " + ("never" if first is None else f"round {first + 1} ({rule})")
            for name, (first, rule) in trial.caught.items()
        )
        print(
            f"  trial {number}: window throttled after the change: {caught}; "
            f"rounds that said throttled: {trial.round_throttled}; "
            f"false window verdicts before: {trial.false_windows}"
        )
    shares = [share for trial in histories for share in trial.out_of_order]
    if shares:
        print(f"  the shaped targets' own out-of-order share (%): {_spread(shares)}")


def print_long_runs(runs: list[tuple[LongRun, Counter[tuple[str, str]]]]) -> None:
    print("\nlong runs of networks without a throttle: verdicts (target-rounds)")
    for run, counts in runs:
        for scope in ("round", "window", "quic round", "quic window"):
            said = {label: n for (where, label), n in counts.items() if where == scope}
            alarms = sum(
                n for label, n in said.items() if label.startswith(("throttled", "blocked"))
            )
            shown = ", ".join(f"{label} {n}" for label, n in sorted(said.items()))
            print(f"  {run.composition:>22} {scope:>6}: {shown}; false alarms {alarms}")


def print_report(
    matrix: Counter[tuple[str, str]],
    mistakes: Counter[str],
    spent: defaultdict[str, list[Cost]],
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
    print("\nbody bytes and seconds per target and round, by verdict: median / max (where)")
    for verdict, costs in sorted(spent.items()):
        median = statistics.median(cost.bytes for cost in costs) / 1024
        most = max(costs, key=lambda cost: cost.bytes)
        slowest = max(costs, key=lambda cost: cost.seconds)
        seconds = statistics.median(cost.seconds for cost in costs)
        print(
            f"  {verdict:>20} {median:6.0f} / {most.bytes / 1024:.0f} KiB ({most.composition}); "
            f"{seconds:.1f} / {slowest.seconds:.1f} s ({slowest.composition})"
        )


def print_network_evidence(
    also_right: Counter[str],
    out_of_order: dict[str, list[float]],
    own_out_of_order: dict[str, list[float]],
    swap_states: dict[str, Counter[str]],
) -> None:
    print("\nright by ALSO_RIGHT (the other answer the scenario allows)")
    for verdict, count in sorted(also_right.items()):
        print(f"  {count}x {verdict}")
    print("\ncontrols' out-of-order share, pooled, per round (%): median / min / max")
    for composition, shares in out_of_order.items():
        print(f"  {composition:>34} {_spread(shares)}")
    print("\nthrottled targets' own out-of-order share, per download (%): median / min / max")
    for composition, shares in own_out_of_order.items():
        print(f"  {composition:>34} {_spread(shares)}")

    print("\nSNI swap outcomes per scenario (every swap name of every round)")
    for composition, states in swap_states.items():
        counts = ", ".join(f"{state} {n}" for state, n in sorted(states.items()))
        print(f"  {composition:>34} {counts}")


if __name__ == "__main__":
    main()
