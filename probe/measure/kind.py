"""A kind of measurement: what it measures in a round, and when.

The round (``measure.round``) knows no kind by name: it runs the kinds that
``measure.registry`` lists, each at its turn, and each writes its own part of
the round's record. A new kind is a subclass of ``MeasurementKind`` in a module
of its own, listed in the registry, with its judge under ``analysis/``
(``analysis.kind``).
"""

import enum
from abc import ABC
from dataclasses import dataclass
from typing import ClassVar

from probe.config import Config
from probe.measure.jobs import Job, RoundContext
from probe.records import RoundResult, TargetResult


class Turn(enum.IntEnum):
    """When in the round a kind measures (kinds of one turn go in registry order)."""

    # Its downloads join the targets' and controls', concurrently: they share
    # the network of the moment, so that comparing them is fair (the SNI swap).
    WITH_TARGETS = 1
    # After them, reading what they measured (the grey zone, QUIC).
    AFTER_TARGETS = 2
    # Last, one session at a time, each with the path to itself (the replay test).
    ALONE = 3


@dataclass
class RoundInProgress:
    """What a kind sees of the round when its turn comes, and where it writes."""

    shared: RoundContext
    targets: list[Job]  # the configured targets and controls, over every transport
    # The round's TCP downloads so far: the targets' and controls', then the
    # downloads of the kinds measured with them.
    measured: list[tuple[Job, TargetResult]]
    result: RoundResult  # the round's record: each kind fills its own part

    @property
    def interrupted(self) -> bool:
        return self.shared.interrupt.requested


class MeasurementKind(ABC):
    """One kind of measurement of a round (see ``Turn`` for when it runs)."""

    name: ClassVar[str]
    turn: ClassVar[Turn]

    def jobs(self, config: Config) -> list[Job]:
        """Downloads to measure with the targets (turn ``WITH_TARGETS``)."""
        return []

    async def measure(self, progress: RoundInProgress) -> None:
        """Measure after the targets (turns ``AFTER_TARGETS`` and ``ALONE``), writing
        what was measured into ``progress.result``. A failure is data: nothing raises."""
        return None
