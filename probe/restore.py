"""What a restarted daemon remembers: each target's history, read back from its archive.

The history rule judges a target against its own clean rounds. Kept only in
the process, that history would start empty at every restart: no baseline
for ``MIN_BASELINE_ROUNDS`` clean rounds (an hour at the default interval),
and a throttle already under way when the daemon came back would itself
become the baseline, never to be called. With ``--archive`` the daemon reads
back the rounds of the last ``MAX_AGE`` (the latest ``HISTORY_ROUNDS`` at
most) and hands each to the history as the runner did when the round ended,
so the same rules decide what joins: rounds ``ok`` on a healthy network,
windows not throttled, ratios not already a drop. The network's health is
judged again from the archived records (the entry does not hold it); the
round's and the window's verdicts are the archived ones.
"""

import datetime
import logging
import warnings
from pathlib import Path

from probe.analysis.compare import Network
from probe.analysis.history import HISTORY_ROUNDS, TargetHistory
from probe.analysis.target_verdict import round_controls
from probe.evidence.archive import UnreadableEntry, latest_entries
from probe.records import Transport
from probe.schema import ArchiveEntry

# Older rounds describe a platform and a path that may have moved since; three
# days still bridge a weekend's outage.
MAX_AGE = datetime.timedelta(days=3)
log = logging.getLogger("throttle-probe")


def restore_history(
    history: TargetHistory,
    directory: Path,
    now: datetime.datetime,
    quic_history: TargetHistory | None = None,
) -> int:
    """Feed ``history`` the archived rounds of ``directory``, oldest first; how many it took.

    ``quic_history``, if given, is fed the same rounds' QUIC downloads.

    A round the stop cut short is left out; an entry the schema cannot read
    is passed over with a warning (``probe.evidence.archive``).
    """
    taken = 0
    with warnings.catch_warnings(record=True) as skipped:
        warnings.simplefilter("always", UnreadableEntry)
        for entry in latest_entries(directory, HISTORY_ROUNDS, now - MAX_AGE):
            if entry.interrupted:  # cut short by a stop: its downloads say less
                continue
            _observe(history, entry, Transport.TCP)
            if quic_history is not None:
                _observe(quic_history, entry, Transport.QUIC)
            taken += 1
    for warning in skipped:
        log.warning("archived round not read back: %s", warning.message)
    return taken


def _observe(history: TargetHistory, entry: ArchiveEntry, transport: Transport) -> None:
    result = entry.result().on_transport(transport)
    round_verdicts = {name: v.verdict for name, v in entry.verdicts(transport).items()}
    if not round_verdicts:  # nothing went over this transport in that round
        return
    window_verdicts = {name: v.verdict for name, v in entry.window_over(transport).items()}
    healthy = round_controls(result).network == Network.HEALTHY
    history.observe(result, round_verdicts, window_verdicts, healthy)
