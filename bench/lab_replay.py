"""The replay test in the lab: what each ClientHello gets, in each direction, per scenario.

    sudo .venv/bin/python bench/lab_replay.py [--runs 3] [--scenarios clean,sni-police,...]

`lab check --group control` runs --runs times under each scenario against
the lab's own `throttle-probe serve`. Printed per scenario, direction and
ClientHello: how often each outcome came (against the scrambled baseline),
the median goodput, the median bytes the session moved, and how the sessions
ended (stop reason, or the failure). Needs root (it builds a lab named "tpr"
and removes it at the end).
"""

import argparse
import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from probe.lab.control import Lab, fresh_lab
from probe.lab.scenarios import parse_composition
from probe.lab.topology import Names
from probe.units import format_rate


@dataclass
class Tally:
    """What the sessions of one direction and ClientHello got over the runs."""

    states: Counter[str] = field(default_factory=Counter)
    stops: Counter[str] = field(default_factory=Counter)
    rates: list[float] = field(default_factory=list)
    moved: list[int] = field(default_factory=list)


def tally_rounds(lab: Lab, runs: int) -> dict[tuple[str, str], Tally]:
    tallies: defaultdict[tuple[str, str], Tally] = defaultdict(Tally)
    for _ in range(runs):
        document = lab.check_document(["--group", "control"])
        for outcome, record in zip(
            document["replay"]["outcomes"], document["replays"], strict=True
        ):
            tally = tallies[(outcome["direction"], f"{outcome['variant']} {outcome['sni']}")]
            tally.states[outcome["state"]] += 1
            tally.stops[record["stop_reason"] or record["failure"]] += 1
            if outcome["goodput_bytes_per_second"] is not None:
                tally.rates.append(outcome["goodput_bytes_per_second"])
            tally.moved.append(record["bytes"])
    return tallies


def print_tallies(tallies: dict[tuple[str, str], Tally]) -> None:
    columns = ("direction", "ClientHello", "outcomes", "goodput", "KiB", "stops")
    print("  {:<9} {:<26} {:<12} {:>12} {:>6}  {}".format(*columns))
    for (direction, hello), tally in tallies.items():
        rate = format_rate(statistics.median(tally.rates)) if tally.rates else "-"
        kib = statistics.median(tally.moved) / 1024
        print(
            f"  {direction:<9} {hello:<26} {counted(tally.states):<12} {rate:>12} {kib:>6.0f}"
            f"  {counted(tally.stops)}"
        )


def counted(counter: Counter[str]) -> str:
    return ", ".join(f"{key} {n}" for key, n in counter.most_common())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--scenarios", default="clean,sni-police,sni-police+congested:rate=20mbit")
    args = parser.parse_args()
    with fresh_lab(Names("tpr")) as lab:
        for composition in args.scenarios.split(","):
            lab.apply(parse_composition(composition))
            tallies = tally_rounds(lab, args.runs)
            print(f"\n{composition} ({args.runs} runs)")
            print_tallies(tallies)


if __name__ == "__main__":
    main()
