"""``--archive DIR``: every round appended to the archive as one self-contained JSON line.

Files are named by the UTC time they were opened
(``rounds-20261129T061500Z-000.jsonl``). A file is closed at the end of its UTC
day or past ``max_file_bytes``, and then compressed to ``.jsonl.gz`` (as are
plain files left by an earlier run). When the folder holds more than
``max_total_bytes``, the oldest files are deleted first, each with a log
line. Each line is flushed and fsynced before the round counts as written,
so a crash or power loss loses at most the round being written, and the
reader skips its torn line.
"""

import gzip
import json
import logging
import os
import shutil
import time
from pathlib import Path
from typing import IO, Any

from probe.schema import FinishedRound, archive_entry, encode
from probe.sinks import OutputError
from probe.wording import os_reason

log = logging.getLogger("throttle-probe")
MAX_FILE_BYTES = 64 * 1024 * 1024
PREFIX, PLAIN, PACKED = "rounds-", ".jsonl", ".jsonl.gz"


class ArchiveSink:
    """Appends each finished round to the archive in ``directory``."""

    def __init__(
        self,
        directory: Path,
        source: str,
        max_total_bytes: int,
        max_file_bytes: int = MAX_FILE_BYTES,
    ) -> None:
        self.directory = directory
        self._source = source
        self._max_total = max_total_bytes
        self._max_file = max_file_bytes
        self._file: IO[str] | None = None
        self._path: Path | None = None
        self._day = ""
        self._opened = 0  # files this sink opened: their counter only grows
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for leftover in sorted(directory.glob(PREFIX + "*" + PLAIN)):
                _compress(leftover)  # closed by an earlier run, or by its crash
        except OSError as error:
            raise OutputError(f"Cannot use the archive {directory}: {os_reason(error)}.") from None

    def round_finished(self, finished: FinishedRound) -> None:
        line = _json_line(encode(archive_entry(finished, self._source)))
        try:
            handle = self._file_for(len(line))
            handle.write(line)
            handle.flush()
            os.fsync(handle.fileno())
        except OSError as error:
            raise OutputError(f"Cannot write to the archive: {os_reason(error)}.") from None
        self._cap()

    def close(self) -> None:
        self._close_file()

    def _file_for(self, size: int) -> IO[str]:
        day = time.strftime("%Y%m%d", time.gmtime())
        if self._file is not None and self._path is not None:
            full = self._path.stat().st_size + size > self._max_file
            if day != self._day or full:
                self._close_file()
        if self._file is None:
            stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
            self._path = _unused(self.directory, stamp, self._opened)
            self._opened += 1
            self._file = open(self._path, "a", encoding="utf-8")  # noqa: SIM115 - kept open
            self._day = day
        return self._file

    def _close_file(self) -> None:
        if self._file is None or self._path is None:
            return
        self._file.close()
        self._file = None
        _compress(self._path)

    def _cap(self) -> None:
        """Delete the oldest files while the archive is over its cap (never the open one)."""
        files = sorted(p for p in self.directory.iterdir() if p.name.startswith(PREFIX))
        total = sum(p.stat().st_size for p in files)
        for oldest in files:
            if total <= self._max_total or oldest == self._path:
                break
            size = oldest.stat().st_size
            oldest.unlink()
            total -= size
            log.warning("archive over its cap: deleted %s (%d bytes), the oldest", oldest, size)


def _json_line(value: dict[str, Any]) -> str:
    return json.dumps(value, separators=(",", ":")) + "\n"


def _unused(directory: Path, stamp: str, first: int) -> Path:
    """A new file for ``stamp``; the counter (from ``first``, the files this sink
    opened) keeps name order = creation order within one second: the cap deletes
    by name."""
    for counter in range(first, first + 1000):
        candidate = directory / f"{PREFIX}{stamp}-{counter:03d}{PLAIN}"
        if not candidate.exists() and not candidate.with_name(candidate.name + ".gz").exists():
            return candidate
    raise OSError(f"more than 1000 archive files opened at {stamp}")


def _compress(path: Path) -> None:
    """``path`` (.jsonl) to ``path.gz`` in one step, then the plain file removed."""
    packed = path.with_name(path.name + ".gz")
    temporary = packed.with_name(packed.name + ".tmp")
    with open(path, "rb") as plain, gzip.open(temporary, "wb") as target:
        shutil.copyfileobj(plain, target)
    os.replace(temporary, packed)
    path.unlink()
