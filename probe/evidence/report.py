"""``throttle-probe report``: the archive read back as episodes, a JSON document or a page.

Reads archive files (or folders of them), keeps the rounds within
``--since``/``--until``, and hands them to the analysis (``episodes``,
``reanalyse``, ``state_episodes``). The terminal table, the JSON document and the HTML page are
three views of the same ``Report``.
"""

import datetime
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from probe import __version__
from probe.analysis.locate import LocateOutcome
from probe.evidence.archive import NotAnArchive, TornLine, UnreadableEntry, read_entries
from probe.evidence.episodes import Difference, Episode, episodes, reanalyse
from probe.evidence.state_episodes import StateEpisode, state_episodes
from probe.schema import ArchiveEntry

FORMAT = "throttle-probe.report/1"


class ReportError(Exception):
    """The archive cannot be read as asked; ``str()`` is one sentence."""


@dataclass(frozen=True)
class Located:
    """Where the equipment acted on a name, as the round that carried the walk judged it."""

    started_at: str
    round_id: str
    outcome: LocateOutcome

    @property
    def getting_past(self) -> str:
        """The evasions that got past the equipment, in a few words ("" if not tried)."""
        table = self.outcome.evasions
        if table is None:
            return ""
        if not any(table.held_down.values()):
            return "nothing to evade"
        return ", ".join(e.value for e in table.restoring) or "none of those tried"


@dataclass
class Report:
    entries: list[ArchiveEntry]
    episodes: list[Episode]
    warnings: list[str] = field(default_factory=list)
    reanalysed: int | None = None  # rounds judged again (None: not asked)
    differences: list[Difference] = field(default_factory=list)
    # The network's state, each control's own and the checks', over the same rounds.
    states: list[StateEpisode] = field(default_factory=list)

    @property
    def locations(self) -> list[Located]:
        """Each name's latest location (daemon.locate), in the order first located."""
        latest: dict[str, Located] = {}
        for entry in self.entries:
            for outcome in entry.locate:
                latest[outcome.name] = Located(entry.started_at, entry.round_id, outcome)
        return list(latest.values())

    def document(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "probe_version": __version__,
            "rounds": len(self.entries),
            "first_round": self.entries[0].started_at if self.entries else None,
            "last_round": self.entries[-1].finished_at if self.entries else None,
            "episodes": [episode.summary() for episode in self.episodes],
            "states": [stretch.summary() for stretch in self.states],
            "locations": [
                {
                    "round_started_at": at.started_at,
                    "round_id": at.round_id,
                    **vars(at.outcome),
                    "evasions": at.outcome.evasions
                    and [e.value for e in at.outcome.evasions.restoring],
                }
                for at in self.locations
            ],
            "reanalysis": None
            if self.reanalysed is None
            else {
                "rounds": self.reanalysed,
                "differences": [vars(d) for d in self.differences],
            },
            "warnings": self.warnings,
        }


def build_report(
    paths: Sequence[Path],
    since: datetime.datetime | None = None,
    until: datetime.datetime | None = None,
    target: str | None = None,
    again: bool = False,
) -> Report:
    """The report over the archive files in ``paths`` (files or folders)."""
    entries, notes = _read(paths)
    undated = [e for e in entries if not _dated(e)]
    if undated:
        notes.append(f"{len(undated)} entries without start and end times (skipped)")
    entries = [e for e in entries if _dated(e) and _within(e, since, until)]
    entries.sort(key=lambda e: e.started_at)
    found = episodes(entries)
    if target is not None:
        found = [e for e in found if e.target == target]
    report = Report(entries, found, notes, states=[] if target else state_episodes(entries))
    if again:
        report.reanalysed, report.differences = reanalyse(entries)
        if target is not None:
            report.differences = [d for d in report.differences if d.target == target]
    return report


def parse_time(text: str, option: str) -> datetime.datetime:
    """An ISO 8601 date or time (UTC when no zone is given); ReportError naming ``option``."""
    try:
        moment = datetime.datetime.fromisoformat(text)
    except ValueError:
        example = "e.g. 2026-03-10T06:00"
        raise ReportError(f"{option}: {text!r} is not a date or time ({example}).") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=datetime.UTC)


def _read(paths: Sequence[Path]) -> tuple[list[ArchiveEntry], list[str]]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files += sorted(p for p in path.iterdir() if p.name.endswith((".jsonl", ".jsonl.gz")))
        elif path.exists():
            files.append(path)
        else:
            raise ReportError(f"{path}: no such file or folder.")
    if not files:
        raise ReportError(f"{', '.join(map(str, paths))}: no archive files there.")
    entries: list[ArchiveEntry] = []
    notes: list[str] = []
    for file in files:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TornLine)
            warnings.simplefilter("always", UnreadableEntry)
            try:
                entries += list(read_entries(file))
            except NotAnArchive as error:
                raise ReportError(str(error)) from None
        skipped = (TornLine, UnreadableEntry)
        notes += [str(w.message) for w in caught if issubclass(w.category, skipped)]
    return entries, notes


def _dated(entry: ArchiveEntry) -> bool:
    """An entry this version can place in time."""
    try:
        for moment in (entry.started_at, entry.finished_at):
            datetime.datetime.fromisoformat(moment)
    except ValueError:
        return False
    return True


def _within(
    entry: ArchiveEntry, since: datetime.datetime | None, until: datetime.datetime | None
) -> bool:
    started = datetime.datetime.fromisoformat(entry.started_at)
    return (since is None or started >= since) and (until is None or started <= until)
