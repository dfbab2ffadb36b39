"""The round archive: written by check and run, rotated, compressed, capped, read back."""

import dataclasses
import gzip
import json
import logging
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from probe.evidence.archive import (
    NotAnArchive,
    TornLine,
    UnreadableEntry,
    find_round,
    read_entries,
)
from probe.records import Transport, VerdictKind
from probe.schema import ENTRY_FORMAT, ArchiveEntry, FinishedRound, archive_entry, encode
from probe.sinks.archive import ArchiveSink
from probe.webserver import MetricsServer, Status
from tests.conftest import Lab
from tests.prometheus_support import Daemon, free_port
from tests.test_metrics import finished, recorded

DATA = Path(__file__).parent / "data"


def archived(directory: Path) -> list[ArchiveEntry]:
    return [entry for path in sorted(directory.iterdir()) for entry in read_entries(path)]


def line_bytes(finished: FinishedRound) -> int:
    return len(json.dumps(encode(archive_entry(finished, "lab")), separators=(",", ":"))) + 1


def test_check_archives_each_round_self_contained(lab: Lab, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        lab.config_text(
            {
                "twitter": [("tw", lab.url("pbs.twimg.test", "/bytes/100000"))],
                "control": [("ctl", lab.url("control.test", "/bytes/100000"))],
            }
        )
        + "identity: {id: archive-test, country: DE}\n"
    )
    archive = tmp_path / "archive"
    command = [sys.executable, "-m", "probe", "check", "--targets", str(targets), "--json"]
    command += ["--rounds", "2", "--interval", "0", "--archive", str(archive)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    entries = archived(archive)
    assert [path.suffix for path in archive.iterdir()] == [".gz"]  # closed, compressed
    document = json.loads(done.stdout)
    assert [e.round_id for e in entries] == [r["round_id"] for r in document["rounds"]]
    first = entries[0]
    assert first.format == ENTRY_FORMAT
    assert first.identity == {"id": "archive-test", "asn": None, "country": "DE"}
    tw = next(t for t in first.targets if t.name == "tw")
    assert tw.transfer is not None and tw.transfer.samples and tw.dns
    assert tw.verdict is not None and tw.verdict.verdict == VerdictKind.OK
    assert tw.evidence is not None and tw.evidence.controls is not None
    assert tw.evidence.controls.goodput_bytes_per_second.keys() == {"ctl"}
    assert first.settings["max_bytes"] == 2 * 1024 * 1024
    assert entries[1].window.rounds == 2
    assert entries[1].window_over(Transport.TCP)["tw"].evidence.rounds == ["ok", "ok"]
    # The line is the round's document with the archive's own parts: one schema.
    with gzip.open(next(archive.iterdir()), "rt") as lines:
        line = json.loads(next(lines))
    assert line.keys() >= {*document["rounds"][0].keys(), "identity", "daemon", "window"}


def test_files_rotate_compress_and_the_oldest_go_past_the_cap(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    result = finished(recorded("lab-sni-police.json"))
    line = line_bytes(result)
    packed = len(gzip.compress(json.dumps(encode(archive_entry(result, "lab"))).encode()))
    # Two rounds a file; room for the open file and about three compressed ones.
    cap = 2 * line + 3 * 2 * packed
    sink = ArchiveSink(tmp_path, "lab", max_total_bytes=cap, max_file_bytes=2 * line + 1)

    with caplog.at_level(logging.WARNING, logger="throttle-probe"):
        for _ in range(12):
            sink.round_finished(result)
            time.sleep(0.01)
        sink.close()

    files = sorted(tmp_path.iterdir())
    assert files and all(path.name.endswith(".jsonl.gz") for path in files)
    assert len(files) >= 2
    assert sum(path.stat().st_size for path in files) <= cap + 2 * line
    deleted = [r for r in caplog.records if "deleted" in r.getMessage()]
    assert deleted, "the cap deleted the oldest files"
    assert len(archived(tmp_path)) < 12  # the oldest rounds are gone ...
    assert archived(tmp_path)[-1].round_id == result.result.round_id  # ... the newest stay


def test_a_torn_last_line_is_skipped_with_a_warning(tmp_path: Path) -> None:
    sink = ArchiveSink(tmp_path, "lab", max_total_bytes=10**9)
    result = finished(recorded("lab-clean.json"))
    sink.round_finished(result)
    sink.round_finished(result)
    (plain,) = tmp_path.iterdir()
    with open(plain, "a") as torn:
        torn.write('{"format": "throttle-probe.round/1", "targ')  # the power went here

    with pytest.warns(TornLine, match=":3: not a whole archive entry"):
        entries = list(read_entries(plain))

    assert len(entries) == 2
    ArchiveSink(tmp_path, "lab", max_total_bytes=10**9)  # a new run compresses the leftover
    (packed,) = tmp_path.iterdir()
    assert packed.name.endswith(".jsonl.gz")
    with pytest.warns(TornLine):
        assert len(list(read_entries(packed))) == 2


def test_a_round_is_found_by_its_id_in_rotated_compressed_files(tmp_path: Path) -> None:
    base = finished(recorded("lab-clean.json"))
    line = line_bytes(base)
    sink = ArchiveSink(tmp_path, "lab", max_total_bytes=10**9, max_file_bytes=2 * line + 1)
    ids = [f"{number:016x}" for number in range(1, 8)]
    for round_id in ids:
        result = dataclasses.replace(base.result, round_id=round_id)
        sink.round_finished(dataclasses.replace(base, result=result))
        time.sleep(0.01)

    names = [path.name for path in tmp_path.iterdir()]
    assert sum(name.endswith(".jsonl.gz") for name in names) >= 3  # rotated, compressed
    assert sum(name.endswith(".jsonl") for name in names) == 1  # still being written
    for round_id in ids:
        found = find_round(tmp_path, round_id)
        assert found is not None and found["round_id"] == round_id
    assert find_round(tmp_path, "f" * 16) is None
    assert find_round(tmp_path, "../" * 5 + "etc/passwd") is None


def test_other_versions_are_read_unreadable_entries_skipped_other_files_refused(
    tmp_path: Path,
) -> None:
    recorded_v1 = json.loads((DATA / "lab-clean.json").read_text())  # check/1, before ids
    first = {**recorded_v1, "format": "throttle-probe.round/1", "round_id": "a" * 16}
    # A later version's entry with a part this one does not know: read, the part left out.
    later = {**first, "format": "throttle-probe.round/3", "round_id": "b" * 16, "new": {"x": 1}}
    broken = {"format": "throttle-probe.round/2", "round_id": "c" * 16}  # no times, no targets
    mixed = tmp_path / "rounds-mixed.jsonl.gz"
    with gzip.open(mixed, "wt") as out:
        out.writelines(json.dumps(entry) + "\n" for entry in (first, later, broken))
    other = tmp_path / "notes.txt"
    other.write_text("groceries\n")

    with pytest.warns(UnreadableEntry, match=r"mixed\.jsonl\.gz:3: .*round/2 document, at "):
        entries = list(read_entries(mixed))

    assert [e.round_id for e in entries] == ["a" * 16, "b" * 16]
    assert entries[0].verdicts().keys() == {"pbs-twimg-com", "abs-twimg-com", "twitter-com",
                                            "x-com", "tiktok-com"}  # fmt: skip
    with pytest.raises(NotAnArchive, match=r"notes\.txt: not a throttle-probe archive"):
        list(read_entries(other))


def test_the_daemon_archives_and_its_exemplars_name_the_archived_round(
    lab: Lab, tmp_path: Path
) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        lab.config_text({"control": [("ctl", lab.url("control.test", "/bytes/100000"))]})
        + "daemon: {interval: 60, jitter: 0}\n"
    )
    archive, port = tmp_path / "archive", free_port()
    args = ["--targets", str(targets), "--listen", f"127.0.0.1:{port}", "--archive", str(archive)]
    with Daemon(args, tmp_path / "daemon.log") as daemon:
        daemon.wait_for_log("round 1: done", timeout=30)
        exposition = httpx.get(
            f"http://127.0.0.1:{port}/metrics",
            headers={"Accept": "application/openmetrics-text; version=1.0.0"},
            trust_env=False,
        ).text
        (entry,) = archived(archive)
        base = f"http://127.0.0.1:{port}/rounds/"
        served = httpx.get(base + entry.round_id, trust_env=False)
        unknown = httpx.get(base + "0" * 16, trust_env=False)

    assert f'throttle_probe_rounds_total 1.0 # {{round_id="{entry.round_id}"}}' in exposition
    # Where a panel's exemplar leads: the archived round, served by the daemon.
    assert served.status_code == 200 and served.json() == encode(entry)
    assert unknown.status_code == 404 and "No round" in unknown.text


def test_without_an_archive_the_rounds_path_says_so(lab: Lab, tmp_path: Path) -> None:
    targets = tmp_path / "targets.yaml"
    targets.write_text(lab.config_text({"control": [("ctl", lab.url("control.test", "/"))]}))
    port = free_port()
    with Daemon(["--targets", str(targets), "--listen", f"127.0.0.1:{port}"], tmp_path / "log"):
        answer = wait_for_answer(f"http://127.0.0.1:{port}/rounds/{'0' * 16}")

    assert answer.status_code == 404 and "--archive" in answer.text


def test_one_archive_scan_at_a_time_the_others_are_told_to_retry() -> None:
    """A scan reads the archive's files: many at once would starve the measurements."""
    scanning, release = threading.Event(), threading.Event()

    def slow_finder(round_id: str) -> dict[str, object] | None:
        scanning.set()
        release.wait(10)
        return {"round_id": round_id}

    status = Status("test", None, None, False)
    server = MetricsServer(
        ("127.0.0.1", 0), lambda _: (b"", "text/plain"), lambda: 0, lambda: status,
        find_round=slow_finder,
    )  # fmt: skip
    server.start()
    url = f"http://127.0.0.1:{server.server_address[1]}/rounds/{'a' * 16}"
    try:
        with ThreadPoolExecutor(1) as pool:
            first = pool.submit(httpx.get, url, trust_env=False, timeout=15)
            assert scanning.wait(10)
            second = httpx.get(url, trust_env=False)
            release.set()
            answered = first.result()
    finally:
        server.shutdown()
        server.server_close()

    assert answered.status_code == 200 and answered.json() == {"round_id": "a" * 16}
    assert second.status_code == 503 and second.headers["Retry-After"] == "1"


def wait_for_answer(url: str, timeout: float = 20) -> httpx.Response:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return httpx.get(url, trust_env=False)
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_an_archive_folder_that_cannot_be_made_is_one_sentence(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    command = [sys.executable, "-m", "probe", "check", "--archive", str(blocker / "sub")]

    done = subprocess.run(command, capture_output=True, text=True, timeout=30)

    assert done.returncode == 2
    assert done.stderr.startswith(f"Cannot use the archive {blocker / 'sub'}")
    assert "Traceback" not in done.stderr
