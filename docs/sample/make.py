"""The sample report page of the README: `report --html` over rounds recorded in the lab.

    .venv/bin/python docs/sample/make.py [--screenshot]

A story of eight rounds a quarter of an hour apart, each a real round
recorded in the lab (tests/data): clean; Twitter's names policed at 150
kbit/s (the 2021 playbook) while TikTok's ClientHello is reset; a white list
under which only the domestic mirror answers; clean again. The lab's rounds
are re-timed onto one morning and archived under the probe id
``lab-sample``, so that no reader mistakes the page for a field measurement.
Writes docs/sample/report.html (the archive it reads is a temporary one)
and, with ``--screenshot`` (headless Chromium), docs/sample/report.png;
``--to DIR`` writes them there instead.
"""

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from probe.analysis.round_judgement import judge_all
from probe.analysis.target_verdict import Verdict
from probe.analysis.window_verdict import judge_window
from probe.config import parse_config
from probe.records import Failure, RoundResult, TargetResult
from probe.schema import FinishedRound, decode_round
from probe.sinks.archive import ArchiveSink

HERE = Path(__file__).parent
DATA = HERE.parent.parent / "tests" / "data"
START = datetime.datetime(2026, 3, 10, 6, 0, tzinfo=datetime.UTC)
CONFIG = """
identity: {id: lab-sample, country: RU}
groups: {control: {role: control, targets: [{name: c, url: 'https://c.test/'}]}}
"""
WINDOW = 3  # rounds in the window verdict, as a daemon with window: 3


def recorded(name: str) -> RoundResult:
    return decode_round(json.loads((DATA / name).read_text())).result()


def fail(entry: TargetResult, failure: Failure) -> None:
    entry.failure = failure
    if entry.transfer is not None:
        entry.transfer.failure, entry.transfer.samples = failure, []
        entry.transfer.goodput_bytes_per_second = None


def policed_and_reset() -> RoundResult:
    """The 2021 policer on Twitter's names, and TikTok's ClientHello reset."""
    result = recorded("lab-sni-police.json")
    fail(next(t for t in result.targets if t.name == "tiktok-com"), Failure.TLS_RESET)
    return result


def white_list() -> RoundResult:
    """Every foreign ClientHello dropped; the domestic mirror answers."""
    result = recorded("lab-clean.json")
    for entry in result.targets:
        if entry.name == "mirror-yandex-ru":
            entry.domestic = True
        else:
            fail(entry, Failure.TLS_TIMEOUT)
    return result


def story() -> list[RoundResult]:
    clean = "lab-clean.json"
    return [
        recorded(clean),
        recorded(clean),
        policed_and_reset(),
        policed_and_reset(),
        policed_and_reset(),
        white_list(),
        recorded(clean),
        recorded(clean),
    ]


def archive(directory: Path) -> None:
    config = parse_config(CONFIG, "sample")
    sink = ArchiveSink(directory, "lab", max_total_bytes=10**9)
    judged: list[tuple[RoundResult, dict[str, Verdict]]] = []
    for number, result in enumerate(story(), start=1):
        started = START + datetime.timedelta(minutes=15 * (number - 1))
        result.started_at = started.isoformat(timespec="milliseconds")
        result.finished_at = (started + datetime.timedelta(seconds=40)).isoformat()
        result.round_id = f"sample{number:02d}"
        judgement = judge_all(result)
        judged = [*judged, (result, judgement.verdicts)][-WINDOW:]
        window = judge_window([r for r, _ in judged], [v for _, v in judged])
        sink.round_finished(FinishedRound(number, result, judgement, window, len(judged), config))
    sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--screenshot", action="store_true", help="also report.png")
    parser.add_argument("--to", type=Path, default=HERE, help="where (default: docs/sample)")
    arguments = parser.parse_args()
    page = arguments.to / "report.html"
    with tempfile.TemporaryDirectory() as directory:
        archive(Path(directory))
        command = [sys.executable, "-m", "probe", "report", directory, "--html", str(page)]
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    if arguments.screenshot:
        chromium = shutil.which("chromium") or sys.exit("--screenshot needs chromium")
        flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
        flags += ["--window-size=1000,1400", f"--screenshot={arguments.to / 'report.png'}"]
        subprocess.run([chromium, *flags, page.resolve().as_uri()], check=True, capture_output=True)
    print(f"wrote {page}")


if __name__ == "__main__":
    main()
