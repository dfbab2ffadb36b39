"""How long a restarting daemon takes to read its history back from the archive.

    .venv/bin/python bench/restore_history.py [--rounds 96] [--round tests/data/lab-congested.json]

Archives ``--rounds`` copies of a recorded round (the largest in tests/data by
default: every target's samples and TCP_INFO of a congested lab round), a
quarter of an hour apart and ending now, with the archive sink, in files
rotated at 4 MiB and compressed as the daemon's would be. Then reads them back
as ``run --archive`` does at start, three times, and prints the archive's
size, the time to read it back and the process's peak memory.
"""

import argparse
import datetime
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from probe.analysis.history import TargetHistory
from probe.analysis.round_judgement import judge_all
from probe.analysis.window_verdict import judge_window
from probe.config import load_config
from probe.restore import restore_history
from probe.schema import FinishedRound, decode_round
from probe.sinks.archive import ArchiveSink

DEFAULT_ROUND = Path(__file__).parent.parent / "tests" / "data" / "lab-congested.json"


def write_archive(directory: Path, document: dict[str, object], rounds: int) -> None:
    config = load_config(None)
    sink = ArchiveSink(directory, "built-in", 10**12, max_file_bytes=4 * 1024 * 1024)
    now = datetime.datetime.now(datetime.UTC)
    for number in range(1, rounds + 1):
        when = now - datetime.timedelta(minutes=15 * (rounds - number))
        result = decode_round(document).result()
        result.started_at = result.finished_at = when.isoformat(timespec="milliseconds")
        judgement = judge_all(result)
        window = judge_window([result], [judgement.verdicts])
        sink.round_finished(FinishedRound(number, result, judgement, window, 1, config))
    sink.close()


def peak_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=96)
    parser.add_argument("--round", type=Path, default=DEFAULT_ROUND, help="a check --json file")
    args = parser.parse_args()
    document = json.loads(args.round.read_text())
    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        write_archive(directory, document, args.rounds)
        size = sum(path.stat().st_size for path in directory.iterdir())
        before = peak_mib()
        seconds, taken = [], 0
        for _ in range(3):
            started = time.perf_counter()
            taken = restore_history(TargetHistory(), directory, datetime.datetime.now(datetime.UTC))
            seconds.append(time.perf_counter() - started)
    print(f"rounds read back   {taken} of {args.rounds} ({args.round.name})")
    print(f"archive            {size / 2**20:.1f} MiB compressed")
    print(f"read back in       {statistics.median(seconds):.2f} s (median of 3)")
    print(f"peak memory        {before:.0f} MiB before reading back, {peak_mib():.0f} MiB after")


if __name__ == "__main__":
    main()
