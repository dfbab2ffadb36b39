"""The daemon in the lab's client, its rounds read back from its archive.

What the lab's long tests and the accuracy benchmark need: `throttle-probe
run --archive` measuring round after round while scenarios change under it,
and every round's verdicts (and its window's) as the archive keeps them.
"""

import contextlib
import signal
import subprocess
import sys
import time
import warnings
from pathlib import Path

import yaml

from probe.evidence.archive import NotAnArchive, TornLine, read_entries
from probe.lab.control import Lab
from probe.lab.system import LabError
from probe.schema import ArchiveEntry

_PORT = 10131  # in the client namespace: any free port will do, nothing else listens there


def daemon_targets(
    lab: Lab, path: Path, max_bytes: int, window: int, names: list[str] | None = None
) -> Path:
    """The lab's targets (only ``names``, if given) without the swap and the replay,
    for a daemon that measures round after round with no pause."""
    config = yaml.safe_load(lab.targets_file.read_text())
    config.pop("sni_swap", None)
    config.pop("replay", None)
    if names is not None:
        for group in list(config["groups"]):
            kept = [t for t in config["groups"][group]["targets"] if t["name"] in names]
            config["groups"][group]["targets"] = kept
            if not kept:
                del config["groups"][group]
    config["settings"]["max_bytes"] = max_bytes
    config["daemon"] = {"interval": 0, "jitter": 0, "window": window, "daily_budget": "1TB"}
    path.write_text(yaml.safe_dump(config))
    return path


class LabDaemon:
    """``throttle-probe run`` in the lab's client with ``--archive DIRECTORY/archive``."""

    def __init__(self, lab: Lab, targets: Path, directory: Path) -> None:
        self.archive = directory / "archive"
        self.log_file = directory / "daemon.log"
        probe = [sys.executable, "-m", "probe", "run", "--targets", str(targets)]
        probe += ["--listen", f"127.0.0.1:{_PORT}", "--archive", str(self.archive)]
        self.argv = lab.client_command(probe)
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "LabDaemon":
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def rounds(self) -> list[ArchiveEntry]:
        """Every round archived so far, oldest first (a line being written is left out)."""
        entries: list[ArchiveEntry] = []
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TornLine)
            for path in sorted(self.archive.glob("rounds-*")):
                with contextlib.suppress(NotAnArchive):  # opened, no whole line in it yet
                    entries += read_entries(path)
        return entries

    def wait_for(self, count: int, timeout: float) -> list[ArchiveEntry]:
        """The rounds, once there are ``count``; LabError with the log if the daemon stops."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rounds = self.rounds()
            if len(rounds) >= count:
                return rounds
            if self.process is None or self.process.poll() is not None:
                raise LabError(f"the daemon stopped after {len(rounds)} rounds:\n{self.log()}")
            time.sleep(0.5)
        raise LabError(f"fewer than {count} rounds within {timeout:.0f} s:\n{self.log()}")
