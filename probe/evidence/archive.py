"""The round archive: one self-contained JSON line per round, and reading it back.

An entry holds everything needed to show, months later, what was measured,
how, and against which control: the format name, the probe's version and
identity, the effective settings, every record, the verdicts of the round
and of the window with their evidence (``probe.schema.ArchiveEntry``, whose
codec reads every line). Files are JSON Lines, plain while written and
gzip-compressed once closed. Reading skips a torn line (a crash or power loss
mid-write) with a warning, and an entry the schema cannot read with another,
never failing the whole file.
"""

import datetime
import gzip
import json
import logging
import re
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from probe.schema import ENTRY_FAMILY, ArchiveEntry, SchemaError, decode_entry

ROUND_ID = re.compile(r"[0-9a-f]{16}")  # secrets.token_hex(8), as measure.round makes them
ARCHIVE_SUFFIXES = (".jsonl", ".jsonl.gz")
log = logging.getLogger("throttle-probe")


class NotAnArchive(Exception):
    """A file that holds no archive entry at all; ``str()`` is one sentence."""


class TornLine(UserWarning):
    """A line of an archive that is not a whole entry (skipped)."""


class UnreadableEntry(UserWarning):
    """A whole entry that the schema cannot read (skipped): say, from a later version."""


def read_entries(path: Path) -> Iterator[ArchiveEntry]:
    """The entries of one archive file (``.jsonl`` or ``.jsonl.gz``), in order.

    NotAnArchive when the file holds no entry at all; a line that is not a
    whole entry is skipped with a ``TornLine`` warning, an entry the schema
    cannot read with an ``UnreadableEntry`` one.
    """
    for number, raw in _raw_entries(path):
        entry = _decoded(path, number, raw)
        if entry is not None:
            yield entry


def _decoded(path: Path, number: int, raw: dict[str, Any]) -> ArchiveEntry | None:
    try:
        return decode_entry(raw)
    except SchemaError as error:
        warnings.warn(f"{path}:{number}: {error} (skipped)", UnreadableEntry, stacklevel=3)
        return None


def _raw_entries(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, parsed line) of each whole entry of ``path``."""
    found = False
    skipped: list[int] = []  # told once the file shows it is an archive at all
    try:
        with _open(path) as lines:
            for number, line in enumerate(lines, start=1):
                entry = _entry(line)
                if entry is None:
                    if line.strip():
                        skipped.append(number)
                    if found:
                        _warn_skipped(path, skipped)
                    continue
                _warn_skipped(path, skipped)
                found = True
                yield number, entry
    except (OSError, EOFError, UnicodeDecodeError) as error:
        if not found:
            raise NotAnArchive(f"{path}: cannot be read as an archive: {error}.") from None
        # A gzip file cut short: what came before the cut stands.
        warnings.warn(f"{path}: ends early ({error}); read up to there", TornLine, stacklevel=2)
    if not found:
        raise NotAnArchive(f"{path}: not a throttle-probe archive (no {ENTRY_FAMILY} entry).")


def find_round(directory: Path, round_id: str) -> dict[str, Any] | None:
    """The entry of round ``round_id`` in the archive folder ``directory``, newest files first.

    Lines are matched as text before any is parsed, so that finding a round
    in a year of archive costs a scan of the files, not a JSON parse of each
    line. A file being written (its last line torn) or unreadable is passed over.
    """
    if not ROUND_ID.fullmatch(round_id):
        return None
    needle = f'"round_id":"{round_id}"'
    for path in sorted(_archive_files(directory), key=_modified, reverse=True):
        try:
            with _open(path) as lines:
                for line in lines:
                    if needle in line:
                        entry = _entry(line)
                        if entry is not None and entry.get("round_id") == round_id:
                            return entry
        except (OSError, EOFError, UnicodeDecodeError):
            continue
    return None


def latest_entries(directory: Path, count: int, since: datetime.datetime) -> Iterator[ArchiveEntry]:
    """Up to ``count`` entries of ``directory`` that finished at ``since`` or later, oldest first.

    Files are read newest name first (the archive names them in creation
    order) until enough entries are found or an older one turns up; then the
    chosen entries are read again, oldest first, one at a time: a day of
    rounds parsed at once would hold tens of MiB. A file that is not an
    archive is passed over with a warning; an entry without a readable
    ``finished_at`` counts as older than ``since``.
    """
    chosen: list[tuple[Path, list[int]]] = []  # newest file first: the entries kept, by index
    found = 0
    for path in sorted(_archive_files(directory), reverse=True):
        try:
            kept, all_recent = _recent_indexes(path, since)
        except NotAnArchive as error:
            log.warning("%s", error)
            continue
        chosen.append((path, kept))
        found += len(kept)
        if found >= count or not all_recent:
            break
    excess = max(0, found - count)
    for path, kept in reversed(chosen):
        dropped = min(excess, len(kept))
        excess -= dropped
        wanted = set(kept[dropped:])
        if wanted:
            for index, (number, raw) in enumerate(_raw_entries(path)):
                entry = _decoded(path, number, raw) if index in wanted else None
                if entry is not None:
                    yield entry


def _archive_files(directory: Path) -> list[Path]:
    return [path for path in directory.glob("*.jsonl*") if path.name.endswith(ARCHIVE_SUFFIXES)]


def _recent_indexes(path: Path, since: datetime.datetime) -> tuple[list[int], bool]:
    """The indexes of ``path``'s entries that finished since ``since``; whether all did."""
    kept: list[int] = []
    total = 0
    for index, (_, entry) in enumerate(_raw_entries(path)):
        total += 1
        if _finished_since(entry, since):
            kept.append(index)
    return kept, len(kept) == total


def _finished_since(entry: dict[str, Any], since: datetime.datetime) -> bool:
    try:
        return datetime.datetime.fromisoformat(entry["finished_at"]) >= since
    except (KeyError, TypeError, ValueError):
        return False


def _modified(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0  # rotated away meanwhile


def _warn_skipped(path: Path, numbers: list[int]) -> None:
    for number in numbers:
        warnings.warn(
            f"{path}:{number}: not a whole archive entry (skipped)", TornLine, stacklevel=3
        )
    numbers.clear()


def _open(path: Path) -> Any:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8")
    return open(path, encoding="utf-8")


def _entry(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    # Any version of the entry format: a reader decides what it understands.
    if not isinstance(entry, dict) or not str(entry.get("format", "")).startswith(ENTRY_FAMILY):
        return None
    return entry
