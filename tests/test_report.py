"""``throttle-probe report`` over archives of recorded lab rounds; its page in Chromium."""

import contextlib
import csv
import datetime
import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from probe.records import Failure, RoundResult
from probe.sinks.archive import ArchiveSink
from tests.documents import png_size
from tests.test_metrics import finished, recorded

START = datetime.datetime(2026, 3, 10, 6, 0, tzinfo=datetime.UTC)
STORY = ["lab-clean.json", "lab-sni-police.json", "lab-sni-police.json", "lab-clean.json"]


def at(result: RoundResult, minutes: int, round_id: str) -> RoundResult:
    """The round as if measured ``minutes`` after START, under ``round_id``."""
    started = START + datetime.timedelta(minutes=minutes)
    result.started_at = started.isoformat(timespec="milliseconds")
    result.finished_at = (started + datetime.timedelta(seconds=40)).isoformat()
    result.round_id = round_id
    return result


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    """Clean, policed, policed, clean: a quarter of an hour apart, two files."""
    directory = tmp_path / "archive"
    sink = ArchiveSink(directory, "lab", max_total_bytes=10**9, max_file_bytes=1)
    for index, name in enumerate(STORY):
        sink.round_finished(finished(at(recorded(name), 15 * index, f"round{index}")))
    sink.close()
    return directory


def report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "probe", "report", *args], capture_output=True, text=True, timeout=60
    )


def episodes_of(done: subprocess.CompletedProcess[str], target: str) -> list[dict[str, Any]]:
    assert done.returncode == 0, done.stderr
    found: list[dict[str, Any]] = json.loads(done.stdout)["episodes"]
    return [e for e in found if e["target"] == target]


def test_verdicts_over_time_become_episodes(archive: Path) -> None:
    pbs = episodes_of(report(str(archive), "--json"), "pbs-twimg-com")

    assert [(e["verdict"], e["detail"], e["rounds"]) for e in pbs] == [
        ("ok", None, 1),
        ("throttled", "policing", 2),
        ("ok", None, 1),
    ]
    throttled = pbs[1]
    assert throttled["start"].startswith("2026-03-10T06:15")
    assert throttled["end"].startswith("2026-03-10T06:30")
    assert 100e3 < throttled["rate_bytes_per_second"] * 8 < 200e3
    assert throttled["controls_bytes_per_second"] * 8 > 10e6
    assert (throttled["first_round_id"], throttled["last_round_id"]) == ("round1", "round2")


def test_since_until_and_target_choose_what_is_read(archive: Path) -> None:
    done = report(
        str(archive), "--json", "--since", "2026-03-10T06:10", "--until", "2026-03-10T06:20"
    )
    only = report(str(archive), "--json", "--target", "x-com")

    assert json.loads(done.stdout)["rounds"] == 1
    assert [e["verdict"] for e in episodes_of(done, "pbs-twimg-com")] == ["throttled"]
    assert {e["target"] for e in json.loads(only.stdout)["episodes"]} == {"x-com"}


def test_reanalyse_shows_where_the_current_code_disagrees(archive: Path, tmp_path: Path) -> None:
    tampered = tmp_path / "tampered.jsonl"
    lines = []
    for path in sorted(archive.iterdir()):
        with gzip.open(path, "rt") as packed:
            lines += packed.read().splitlines()
    index = next(i for i, line in enumerate(lines) if '"round_id":"round1"' in line)
    entry = json.loads(lines[index])  # the first policed round: say it was fine
    pbs = next(t for t in entry["targets"] if t["name"] == "pbs-twimg-com")
    pbs["verdict"] = {**pbs["verdict"], "verdict": "ok", "mechanism": None}
    lines[index] = json.dumps(entry)
    tampered.write_text("\n".join(lines) + "\n")

    done = report(str(tampered), "--json", "--reanalyse")

    assert done.returncode == 0, done.stderr
    reanalysis = json.loads(done.stdout)["reanalysis"]
    assert reanalysis["rounds"] == 4
    assert reanalysis["differences"] == [
        {
            "round_id": "round1",
            "started_at": "2026-03-10T06:15:00.000+00:00",
            "target": "pbs-twimg-com",
            "recorded": "ok",
            "now": "throttled/policing",
        }
    ]


def failed_at_tls(result: RoundResult, keep: str | None = None) -> RoundResult:
    """Every download but ``keep``'s failing at the TLS stage; ``keep`` served at home."""
    for entry in result.targets:
        if keep is not None and entry.name == keep:
            entry.domestic = True
        elif keep is not None or entry.name == "speed-cloudflare-com":
            entry.failure = Failure.TLS_TIMEOUT
            if entry.transfer is not None:
                entry.transfer.failure, entry.transfer.samples = Failure.TLS_TIMEOUT, []
                entry.transfer.goodput_bytes_per_second = None
    return result


def test_the_network_and_the_controls_states_become_stretches(tmp_path: Path) -> None:
    """A control failing for two rounds, and a white list in the second: both are told
    apart from the targets' episodes, with the rounds' ids to check them against."""
    story = [
        recorded("lab-clean.json"),
        failed_at_tls(recorded("lab-clean.json")),
        failed_at_tls(recorded("lab-clean.json"), keep="mirror-yandex-ru"),
        recorded("lab-clean.json"),
    ]
    sink = ArchiveSink(tmp_path, "lab", max_total_bytes=10**9)
    for index, result in enumerate(story):
        sink.round_finished(finished(at(result, 15 * index, f"round{index}")))
    sink.close()

    done = report(str(tmp_path), "--json")

    assert done.returncode == 0, done.stderr
    states = json.loads(done.stdout)["states"]
    by_subject: dict[str, list[tuple[str, int]]] = {}
    for stretch in states:
        by_subject.setdefault(stretch["subject"], []).append((stretch["state"], stretch["rounds"]))
    assert by_subject["network"] == [("healthy", 2), ("domestic_only", 1), ("healthy", 1)]
    assert by_subject["control speed-cloudflare-com"] == [("ok", 1), ("tls", 2), ("ok", 1)]
    assert by_subject["control mirror-yandex-ru"] == [("ok", 4)]
    shutdown = next(s for s in states if s["state"] == "domestic_only")
    assert (shutdown["first_round_id"], shutdown["last_round_id"]) == ("round2", "round2")
    assert states[0]["subject"] == "network"  # the network first, then the controls
    table = report(str(tmp_path))
    assert "The network, the controls and the checks" in table.stdout
    assert "domestic_only" in table.stdout


def test_csv_gives_the_rounds_figures_and_the_episodes_for_ones_own_charts(
    archive: Path, tmp_path: Path
) -> None:
    out = tmp_path / "figures.csv"

    done = report(str(archive), "--csv", str(out), "--json")

    assert done.returncode == 0, done.stderr
    assert f"Figures written to {out} and {tmp_path / 'figures.episodes.csv'}" in done.stderr
    with out.open(newline="") as file:
        rows = list(csv.DictReader(file))
    with (tmp_path / "figures.episodes.csv").open(newline="") as file:
        episodes = list(csv.DictReader(file))
    assert len({r["round_id"] for r in rows}) == len(STORY)
    policed = [r for r in rows if r["target"] == "pbs-twimg-com" and r["round_id"] == "round1"]
    assert [(r["verdict"], r["mechanism"], r["window_verdict"]) for r in policed] == [
        ("throttled", "policing", "throttled/policing")
    ]
    assert 100e3 < float(policed[0]["goodput_bit_per_second"]) < 200e3
    assert float(policed[0]["ratio_to_slowest_control"]) > 10
    assert {r["role"] for r in rows} == {"target", "control"}
    assert len(episodes) == len(json.loads(done.stdout)["episodes"])
    throttled = next(e for e in episodes if e["verdict"] == "throttled")
    assert throttled["representative_round_id"] in ("round1", "round2")
    assert "Wehe on pooled samples" in throttled["reason"]
    missing = report(str(archive), "--csv", str(tmp_path / "no" / "such.csv"))
    assert missing.returncode == 2 and "--csv: the folder" in missing.stderr


def test_rotated_torn_and_mixed_archives_read_with_warnings(archive: Path) -> None:
    torn = archive / "rounds-later.jsonl"
    torn.write_text(
        json.dumps({"format": "throttle-probe.round/9", "started_at": "2026-03-10T08:00:00+00:00"})
        + "\n"
        + '{"format": "throttle-probe.round/1", "star'
    )

    done = report(str(archive))

    assert done.returncode == 0, done.stderr
    assert "warning:" in done.stderr and "rounds-later.jsonl:2" in done.stderr
    assert "Episodes" in done.stdout and "pbs-twimg-com" in done.stdout


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.txt", b"just some notes\n", "not a throttle-probe archive"),
        ("cut.jsonl.gz", gzip.compress(b"\x00" * 10, mtime=0)[:12], "cannot be read as an archive"),
        ("photo.jsonl.gz", b"\x89PNG\r\n", "cannot be read as an archive"),
        ("missing.jsonl", None, "no such file or folder"),
    ],
)
def test_a_file_that_is_not_an_archive_is_one_sentence(
    tmp_path: Path, name: str, content: bytes | None, message: str
) -> None:
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)

    done = report(str(path))

    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr


def test_bad_times_are_one_sentence(archive: Path) -> None:
    done = report(str(archive), "--since", "yesterday")

    assert done.returncode == 2
    assert "--since: 'yesterday' is not a date or time" in done.stderr


class _Recorder(BaseHTTPRequestHandler):
    requests: ClassVar[list[str]] = []
    page = b""

    def do_GET(self) -> None:
        _Recorder.requests.append(self.path)
        body = _Recorder.page if self.path == "/report.html" else b""
        self.send_response(200 if body else 404)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@contextlib.contextmanager
def serving(page: bytes) -> Iterator[int]:
    _Recorder.requests, _Recorder.page = [], page
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@pytest.mark.chromium
def chromium_run(chromium: str, profile: Path, url: str, *mode: str) -> str:
    """Headless Chromium 1000 px wide on ``url`` in ``mode`` (--dump-dom, --screenshot=F)."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run"]
    flags += ["--disable-background-networking", "--disable-component-update"]
    flags += ["--disable-sync", f"--user-data-dir={profile}", "--hide-scrollbars"]
    flags += ["--window-size=1000,1600", "--virtual-time-budget=5000", *mode]
    done = subprocess.run([chromium, *flags, url], capture_output=True, text=True, timeout=90)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.chromium
def test_the_html_page_reads_at_a_glance_and_asks_for_nothing(
    archive: Path, tmp_path: Path
) -> None:
    """The page in a real headless Chromium at 1000 px: every picture decoded, nothing
    wider than the window, no request but the page's own, and a screenshot of it."""
    chromium = shutil.which("chromium")
    if chromium is None:
        if os.environ.get("CI") == "true":
            pytest.fail("CI must run the page in Chromium (Debian package chromium)")
        pytest.skip("needs chromium (Debian package chromium)")
    page = tmp_path / "report.html"
    done = report(str(archive), "--reanalyse", "--html", str(page))
    assert done.returncode == 0, done.stderr
    text = page.read_text()
    # Nothing to fetch from anywhere: an address only in a link to a source.
    assert not re.search(r"https?://", re.sub(r'<a href="https://[^"]+">', "", text))
    images = text.count("<img ")
    assert images >= 4  # the timeline, the policed episodes' rounds, the groups' rates

    with serving(text.encode()) as port:
        url = f"http://127.0.0.1:{port}/report.html"
        dom = chromium_run(chromium, tmp_path / "chromium", url, "--dump-dom")
        shot = tmp_path / "report.png"
        chromium_run(chromium, tmp_path / "chromium", url, f"--screenshot={shot}")
        printed = tmp_path / "report.pdf"
        chromium_run(chromium, tmp_path / "chromium", url, f"--print-to-pdf={printed}")

    assert f'data-images="loaded {images}"' in dom  # every picture decoded
    assert 'data-fits="fits"' in dom  # no horizontal scroll at 1000 px
    assert set(_Recorder.requests) == {"/report.html"}  # no picture, icon or style fetched
    assert png_size(shot.read_bytes()) == (1000, 1600)
    pages = re.findall(rb"/MediaBox \[0 0 ([\d.]+) ([\d.]+)\]", printed.read_bytes())
    assert pages and {(round(float(w)), round(float(h))) for w, h in pages} == {(595, 842)}  # A4
    assert "throttled/policing" in dom and "every verdict stands" in dom
    assert "pbs-twimg-com and twitter-com (twitter) were throttled (policing) to about 1" in dom
    assert "What happened, episode by episode" in dom and "Each target over time" in dom
    assert "The network, the controls and the checks" in dom


def relative_luminance(colour: str) -> float:
    """WCAG 2's relative luminance of "#rrggbb"."""
    channels = [int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5)]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def test_every_text_colour_of_the_page_reads_on_white() -> None:
    """WCAG AA: 4.5:1 at least for body text, against the page's white; and the style
    uses no text colour but these."""
    from probe.evidence import report_page

    palette = {
        report_page.TEXT,
        report_page.MUTED,
        report_page.ALARM,
        report_page.WARN,
        report_page.INFO,
    }
    for colour in palette:
        assert 1.05 / (relative_luminance(colour) + 0.05) >= 4.5, colour
    assert set(re.findall(r"\bcolor: (#[0-9a-f]{6})", report_page._STYLE)) == palette


def test_the_readmes_sample_page_is_made_from_the_recorded_lab_rounds(tmp_path: Path) -> None:
    """docs/sample/make.py, as the README's sample page was made."""
    script = Path(__file__).parent.parent / "docs" / "sample" / "make.py"

    done = subprocess.run(
        [sys.executable, str(script), "--to", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )

    assert done.returncode == 0, done.stderr
    page = (tmp_path / "report.html").read_text()
    assert "Measured by lab-sample (RU) from 06:00 to 07:45 UTC on 10 March 2026" in page
    assert "tiktok-com (tiktok) was blocked at the TLS handshake" in page
    assert "cut off from abroad" in page
