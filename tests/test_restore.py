"""A restarted daemon reads each target's history back from its archive."""

import datetime
import gzip
import logging
from pathlib import Path

import pytest

from probe.analysis.history import HISTORY_ROUNDS, TargetHistory
from probe.analysis.round_judgement import judge_all
from probe.analysis.target_verdict import Verdict
from probe.analysis.window_verdict import judge_window
from probe.config import parse_config
from probe.evidence.archive import latest_entries, read_entries
from probe.records import RoundResult, VerdictKind
from probe.restore import MAX_AGE, restore_history
from probe.schema import ArchiveEntry, FinishedRound
from probe.sinks.archive import ArchiveSink
from tests.conftest import Lab
from tests.prometheus_support import Daemon, free_port
from tests.test_history import ratio_round
from tests.test_metrics import LAB_LIKE

NOW = datetime.datetime(2026, 11, 29, 12, 0, tzinfo=datetime.UTC)
WINDOW = 3


def at(result: RoundResult, when: datetime.datetime) -> RoundResult:
    result.started_at = result.finished_at = when.isoformat(timespec="milliseconds")
    return result


def archive_rounds(
    directory: Path, rates: list[float], first: datetime.datetime, max_file_bytes: int = 10**9
) -> TargetHistory:
    """Judge and archive a round per rate, 15 minutes apart, as the runner does; the
    history the runner kept meanwhile."""
    sink = ArchiveSink(directory, "t", 10**9, max_file_bytes)
    live = TargetHistory()
    config = parse_config(LAB_LIKE, "t")
    rounds: list[tuple[RoundResult, dict[str, Verdict]]] = []
    for number, rate in enumerate(rates, start=1):
        result = at(ratio_round(rate), first + datetime.timedelta(minutes=15 * number))
        judgement = judge_all(result)
        rounds = [*rounds, (result, judgement.verdicts)][-WINDOW:]
        window = judge_window([r for r, _ in rounds], [v for _, v in rounds], history=live)
        live.observe(
            result,
            {name: v.verdict for name, v in judgement.verdicts.items()},
            {name: v.verdict for name, v in window.items()},
            healthy_network=True,
        )
        sink.round_finished(FinishedRound(number, result, judgement, window, len(rounds), config))
    sink.close()
    return live


def every_entry(directory: Path) -> list[ArchiveEntry]:
    """Every entry of the archive in ``directory``, oldest first."""
    return [e for path in sorted(directory.iterdir()) for e in read_entries(path)]


def test_the_restored_history_is_the_one_the_runner_kept(tmp_path: Path) -> None:
    clean = [1.1e6, 1.0e6, 1.2e6, 0.9e6, 1.1e6, 1.05e6]
    shaped = [2.75e5] * 3  # the drop the history rule calls: it must not join the baseline
    # Small files: the rounds span several, rotated and compressed.
    live = archive_rounds(tmp_path, [*clean, *shaped], NOW - datetime.timedelta(hours=4), 20_000)
    restored = TargetHistory()

    taken = restore_history(restored, tmp_path, NOW)

    assert len(list(tmp_path.glob("*.jsonl.gz"))) > 1
    assert taken == len(clean) + len(shaped)
    assert restored.baseline("t") == live.baseline("t")
    baseline = restored.baseline("t")
    assert baseline is not None and baseline.rounds == len(clean)


def test_only_recent_rounds_and_only_the_latest_are_read_back(tmp_path: Path) -> None:
    old_start = NOW - MAX_AGE - datetime.timedelta(days=1)
    archive_rounds(tmp_path / "a", [1.1e6] * 5, old_start)
    assert restore_history(TargetHistory(), tmp_path / "a", NOW) == 0

    recent = NOW - datetime.timedelta(days=1, hours=12)
    archive_rounds(tmp_path / "b", [1.1e6] * (HISTORY_ROUNDS + 5), recent)
    entries = list(latest_entries(tmp_path / "b", HISTORY_ROUNDS, NOW - MAX_AGE))
    every = every_entry(tmp_path / "b")
    assert [e.finished_at for e in entries] == [e.finished_at for e in every[-HISTORY_ROUNDS:]]

    archive_rounds(tmp_path / "c", [1.1e6] * 9, recent, max_file_bytes=20_000)
    times = [e.finished_at for e in every_entry(tmp_path / "c")]
    latest = [e.finished_at for e in latest_entries(tmp_path / "c", 5, NOW - MAX_AGE)]
    assert len(list((tmp_path / "c").iterdir())) > 2 and latest == times[-5:]


def test_older_files_are_not_read_once_an_older_round_turns_up(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    archive_rounds(tmp_path, [1.1e6] * 3, NOW - MAX_AGE - datetime.timedelta(days=1))
    archive_rounds(tmp_path, [1.1e6] * 2, NOW - MAX_AGE - datetime.timedelta(minutes=20))
    oldest = sorted(tmp_path.iterdir())[0]
    archive_rounds(tmp_path, [1.1e6] * 4, NOW - datetime.timedelta(hours=2))
    oldest.write_bytes(gzip.compress(b"not json\n"))  # would warn if it were read

    with caplog.at_level(logging.WARNING, logger="throttle-probe"):
        entries = list(latest_entries(tmp_path, HISTORY_ROUNDS, NOW - MAX_AGE))

    assert len(entries) == 4 + 1  # the second file's last round is within MAX_AGE
    assert caplog.text == ""


def test_a_round_cut_short_by_the_stop_is_not_read_back(tmp_path: Path) -> None:
    archive_rounds(tmp_path, [1.1e6] * 4, NOW - datetime.timedelta(hours=2))
    newest = sorted(tmp_path.glob("rounds-*"))[-1]
    lines = gzip.decompress(newest.read_bytes()).decode().splitlines()
    lines[-1] = lines[-1].replace('"interrupted":false', '"interrupted":true', 1)
    newest.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    restored = TargetHistory()

    assert restore_history(restored, tmp_path, NOW) == 3
    assert restored.baseline("t") is None  # 3 clean rounds: one short of a baseline


def test_a_missing_folder_or_foreign_file_or_broken_entry_is_passed_over(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert restore_history(TargetHistory(), tmp_path / "none", NOW) == 0

    archive_rounds(tmp_path, [1.1e6] * 5, NOW - datetime.timedelta(hours=3))
    (tmp_path / "rounds-29990101T000000Z-000.jsonl.gz").write_bytes(gzip.compress(b"{}\n"))
    newest = sorted(tmp_path.glob("rounds-2026*"))[-1]
    lines = gzip.decompress(newest.read_bytes()).decode().splitlines()
    lines[-1] = lines[-1].replace('"targets":[', '"targets":[{"broken":1},', 1)
    newest.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    restored = TargetHistory()

    with caplog.at_level(logging.WARNING, logger="throttle-probe"):
        taken = restore_history(restored, tmp_path, NOW)

    assert taken == 4
    assert restored.baseline("t") is not None
    assert "not a throttle-probe archive" in caplog.text
    assert "not read back" in caplog.text


def test_a_daemon_restarted_on_its_archive_keeps_its_baselines(lab: Lab, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        lab.config_text(
            {
                "twitter": [("tw-image", lab.url("pbs.twimg.test", "/bytes/2000000"))],
                "control": [("ctl", lab.url("control.test", "/bytes/2000000"))],
            }
        )
        + "daemon: {interval: 0.2, jitter: 0, window: 3, daily_budget: 1TB}\n"
    )
    archive = tmp_path / "archive"

    def daemon(log: str) -> Daemon:
        listen = f"127.0.0.1:{free_port()}"
        args = ["--targets", str(targets), "--listen", listen, "--archive", str(archive)]
        return Daemon(args, tmp_path / log)

    with daemon("first.log") as first:
        first.wait_for_log("round 5: done", timeout=90)
    # The stop may have cut a round short: it is archived, but not read back.
    archived = [e for e in every_entry(archive) if not e.interrupted]
    clean = [e for e in archived if e.verdicts()["tw-image"].verdict == VerdictKind.OK]
    with daemon("second.log") as second:
        second.wait_for_log("history:", timeout=30)

    assert "history: 0 archived rounds read back, 0 of 1 targets have a baseline" in first.log()
    assert len(clean) >= 4, [e.verdicts() for e in archived]
    said = f"history: {len(archived)} archived rounds read back, 1 of 1 targets have a baseline"
    assert said in second.log()
