"""How much of the method do the tests pin? A mutation score, per module.

    .venv/bin/pip install 'mutmut==3.8.1' && .venv/bin/python bench/mutation_score.py

mutmut changes the analysis, goodput and plateau code one small edit at a
time (a threshold, a comparison, a constant; `[tool.mutmut]` in
pyproject.toml says where, and which tests run: those without root or a
network). A mutant is killed when some test fails, survives when every test
still passes, and has no tests when no in-process test reaches its line
(code exercised only through the CLI in a subprocess counts there). Printed:
the counts per module and the share killed. A survivor is a change to the
method that no test notices.

Then the mutants issue 10 named by hand (thresholds and rules of the method),
each applied to a copy of the repository and run against the same tests:
each must be killed.
"""

import collections
import re
import shutil
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parent.parent
MUTMUT = Path(sys.executable).with_name("mutmut")
RESULT = re.compile(r"^\s*(probe(?:\.\w+)+?)\.[^.]*__mutmut_\d+: (.+)$")
# (file, text, its mutation): the changes issue 10 found today's tests let through.
LISTED = [
    ("probe/analysis/stats.py", "WEHE_AREA_FAST = 0.3", "WEHE_AREA_FAST = 0.9"),
    ("probe/analysis/stats.py", "WEHE_P_VALUE = 0.01", "WEHE_P_VALUE = 0.3"),
    ("probe/analysis/stats.py", "RTT_INFLATED_SHARE = 0.2 ", "RTT_INFLATED_SHARE = 0.5 "),
    ("probe/analysis/target_verdict.py", "LOSSY_NETWORK = 0.02", "LOSSY_NETWORK = 0.01"),
    (
        "probe/analysis/target_verdict.py",
        "return len(self.failures) * 2 > len(self.rates) + len(self.failures)",
        "return len(self.failures) * 2 >= len(self.rates) + len(self.failures)",
    ),
    (
        "probe/analysis/target_verdict.py",
        "    if working and not bogon:\n        return None",
        "    pass  # no CDN rule",
    ),
    ("probe/measure/goodput.py", "SKIP_FRACTION = 0.10", "SKIP_FRACTION = 0.0"),
    ("probe/measure/goodput.py", "settle_time = start.t + (rtt or 0.0)", "settle_time = start.t"),
    ("probe/measure/plateau.py", "TOLERANCE = 0.15", "TOLERANCE = 0.40"),
    ("probe/measure/plateau.py", "start = end - WINDOW_SECONDS", "start = samples[0].t"),
    ("probe/measure/transfer.py", "stop_at_plateau: bool = True", "stop_at_plateau: bool = False"),
    ("probe/config.py", "stop_at_plateau: bool = True", "stop_at_plateau: bool = False"),
]


def main() -> None:
    if not MUTMUT.exists():
        sys.exit(f"needs mutmut beside {sys.executable}: pip install 'mutmut==3.8.1'")
    shutil.rmtree(REPOSITORY / "mutants", ignore_errors=True)  # no stale results
    started = time.monotonic()
    run = subprocess.run([str(MUTMUT), "run"], cwd=REPOSITORY, capture_output=True, text=True)
    if run.returncode != 0:
        sys.exit(f"mutmut run failed:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
    elapsed = time.monotonic() - started
    listed = subprocess.run(
        [str(MUTMUT), "results", "--all", "true"],
        cwd=REPOSITORY,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    print_table(tally(listed), elapsed)
    print_listed()


def tally(listing: str) -> dict[str, collections.Counter[str]]:
    """Mutants by module and status (killed, survived, no tests, timeout, ...)."""
    modules: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in listing.splitlines():
        found = RESULT.match(line)
        if found is not None:
            modules[module_of(found.group(1))][found.group(2).strip()] += 1
    return modules


def module_of(dotted: str) -> str:
    """``probe.analysis.stats`` from a mutant's dotted name (class names may follow)."""
    parts = dotted.split(".")
    return ".".join(parts[:3])


def print_table(modules: dict[str, collections.Counter[str]], elapsed: float) -> None:
    statuses = ["killed", "survived", "no tests", "timeout"]
    print(f"mutation score of the method ({elapsed:.0f} s)")
    print(f"  {'module':34} " + " ".join(f"{s:>9}" for s in statuses) + "   killed")
    total: collections.Counter[str] = collections.Counter()
    for name in sorted(modules):
        counts = modules[name]
        total.update(counts)
        print(f"  {name:34} " + " ".join(f"{counts[s]:9d}" for s in statuses) + share(counts))
    print(f"  {'all':34} " + " ".join(f"{total[s]:9d}" for s in statuses) + share(total))


def print_listed() -> None:
    """Each mutant of ``LISTED`` in a copy of the repository, against the selected tests."""
    settings = tomllib.loads((REPOSITORY / "pyproject.toml").read_text())["tool"]["mutmut"]
    tests = settings["pytest_add_cli_args_test_selection"]
    print("the mutants issue 10 listed")
    killed = 0
    for path, text, mutation in LISTED:
        with tempfile.TemporaryDirectory() as copy:
            for folder in ("probe", "tests"):
                shutil.copytree(REPOSITORY / folder, Path(copy) / folder)
            source = Path(copy) / path
            original = source.read_text()
            assert text in original, (path, text)
            source.write_text(original.replace(text, mutation, 1))
            # Run from the copy: its probe/ comes first on sys.path.
            argv = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", *tests]
            done = subprocess.run(argv, cwd=copy, capture_output=True, text=True)
        killed += done.returncode != 0
        outcome = "killed  " if done.returncode != 0 else "SURVIVED"
        print(f"  {outcome} {path}: {mutation.strip()[:60]}")
    print(f"  {killed} of {len(LISTED)} killed")


def share(counts: collections.Counter[str]) -> str:
    mutants = sum(counts.values())
    return f"   {counts['killed'] / mutants:6.1%}" if mutants else ""


if __name__ == "__main__":
    main()
