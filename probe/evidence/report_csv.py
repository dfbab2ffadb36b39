"""``report --csv FILE``: the report's figures for people who make their own charts.

Two files, one table each: FILE holds one row per download and round (every
target and control, each transport: its verdict, the window's, its goodput,
the slowest control's, the ratio, the failure, the network's state), and
FILE with ``.episodes`` before its suffix holds the episodes. Rates are in
bit/s, times ISO 8601 in UTC, as the archive keeps them.
"""

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from probe.evidence.report import Report
from probe.records import Role, Transport
from probe.schema import ArchiveEntry

ROUND_COLUMNS = (
    "round_id",
    "started_at",
    "probe",
    "target",
    "group",
    "role",
    "transport",
    "verdict",
    "mechanism",
    "stage",
    "rule",
    "window_verdict",
    "goodput_bit_per_second",
    "slowest_control_bit_per_second",
    "ratio_to_slowest_control",
    "failure",
    "network_state",
)
EPISODE_COLUMNS = (
    "target",
    "transport",
    "group",
    "verdict",
    "detail",
    "start",
    "end",
    "rounds",
    "rate_bit_per_second",
    "controls_bit_per_second",
    "ratio_to_controls",
    "first_round_id",
    "last_round_id",
    "representative_round_id",
    "reason",
)


def episodes_path(path: Path) -> Path:
    """Where the episodes go beside ``path``: ``out.csv`` -> ``out.episodes.csv``."""
    return path.with_name(f"{path.stem}.episodes{path.suffix or '.csv'}")


def write_csv(report: Report, path: Path) -> list[Path]:
    """Both files; the paths written. OSError as the file system gives it."""
    _write(path, ROUND_COLUMNS, (row for entry in report.entries for row in _round_rows(entry)))
    episodes = episodes_path(path)
    _write(episodes, EPISODE_COLUMNS, (_episode_row(e.summary()) for e in report.episodes))
    return [path, episodes]


def _write(path: Path, columns: tuple[str, ...], rows: Iterator[dict[str, Any]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, columns)
        writer.writeheader()
        writer.writerows(rows)


def _bits(bytes_per_second: float | None) -> float | None:
    return None if bytes_per_second is None else bytes_per_second * 8


def _round_rows(entry: ArchiveEntry) -> Iterator[dict[str, Any]]:
    probe = entry.identity.get("id") or ""
    for transport in Transport:
        window, downloads = entry.window_over(transport), entry.entries_over(transport)
        healthy = [
            rate
            for d in downloads
            if d.role == Role.CONTROL and d.failure is None and (rate := d.goodput_bytes_per_second)
        ]
        slowest = min(healthy) if healthy else None
        for download in (d for d in downloads if d.role in (Role.TARGET, Role.CONTROL)):
            verdict, windowed = download.verdict, window.get(download.name)
            rate = download.goodput_bytes_per_second
            yield {
                "round_id": entry.round_id,
                "started_at": entry.started_at,
                "probe": probe,
                "target": download.name,
                "group": download.group,
                "role": download.role,
                "transport": transport,
                "verdict": verdict.verdict if verdict else "",
                "mechanism": (verdict.mechanism or "") if verdict else "",
                "stage": (verdict.stage or "") if verdict else "",
                "rule": (verdict.rule or "") if verdict else "",
                "window_verdict": windowed.label if windowed else "",
                "goodput_bit_per_second": _bits(rate),
                "slowest_control_bit_per_second": _bits(slowest),
                "ratio_to_slowest_control": slowest / rate if slowest and rate else None,
                "failure": download.failure or "",
                "network_state": entry.network_state or "",
            }


def _episode_row(summary: dict[str, Any]) -> dict[str, Any]:
    row = {column: summary.get(column) for column in EPISODE_COLUMNS}
    row["rate_bit_per_second"] = _bits(summary["rate_bytes_per_second"])
    row["controls_bit_per_second"] = _bits(summary["controls_bytes_per_second"])
    return row
