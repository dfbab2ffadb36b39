"""A kind of measurement judged: what it adds to the targets' verdicts, and what it shows.

``measure.kind`` is the measuring half. Each kind's judge (listed in
``analysis.registry``) reads the kind's part of the round's record and
returns its findings: a note for each target it measured something about (a
clause for the verdict's reason and its figures for the evidence), and what a
front end shows of it (a table, sentences). The verdicts and the sinks read
findings through this protocol only, never a kind by name.
"""

import enum
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from probe.analysis.compare import Network
from probe.records import Comparison, RoundResult, TargetResult

if TYPE_CHECKING:  # the evidence holds each kind's outcome types: imported for types only
    from probe.analysis.evidence import Evidence


@dataclass(frozen=True)
class Note:
    """What a kind adds to one target's verdict."""

    clause: str  # joins the verdict's reason after "; "
    attach: "Callable[[Evidence], None]"  # puts the kind's figures into the verdict's evidence


class Tone(enum.StrEnum):
    """How a shown value reads: a front end picks the colour."""

    ALARM = "alarm"  # slowed, blocked
    FINE = "fine"  # the same as its baseline


@dataclass(frozen=True)
class Cell:
    text: str
    tone: Tone | None = None
    aside: str = ""  # shown after the text, quieter: a failure, "control"


_TONES = {Comparison.SLOWED: Tone.ALARM, Comparison.BLOCKED: Tone.ALARM, Comparison.SAME: Tone.FINE}


def state_cell(state: Comparison, failure: str | None) -> Cell:
    """A comparison with its baseline as a table shows it, the failure beside it."""
    return Cell(state, _TONES.get(state), failure or "")


@dataclass(frozen=True)
class Column:
    title: str
    numeric: bool = False  # aligned right


@dataclass(frozen=True)
class Shown:
    """What a front end shows of a kind's findings: a table, then sentences."""

    title: str
    columns: tuple[Column, ...]
    rows: Sequence[tuple[Cell, ...]]
    sentences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Series:
    """A gauge a kind exports of its findings: ``throttle_probe_`` + ``name``.

    Labels are bounded (a closed vocabulary, the targets file's names), never an
    address or an error text; the metrics sink serves the latest round's.
    """

    name: str
    help: str
    labels: tuple[str, ...]
    samples: Sequence[tuple[tuple[str, ...], float]]
    # Kept by the metrics sink after later rounds, each subject's (the first label's)
    # samples until the kind exports that subject again: a finding made once a day
    # (where the equipment sits) stays true until then, where a round's own state
    # would vanish with the next round.
    kept: bool = False


class KindFindings(ABC):  # noqa: B024 - every method has a default: findings override what they have
    """A kind's findings in one round."""

    def series(self) -> list[Series]:
        """The gauges the metrics export of these findings (none by default)."""
        return []

    def note_for(self, target: TargetResult) -> Note | None:
        """What the kind found about ``target`` (None: nothing)."""
        return None

    def shown(self) -> Shown | None:
        """What a front end shows (None: nothing to show this round)."""
        return None


class KindJudge(ABC):
    """Judges one kind's part of a round."""

    name: ClassVar[str]  # the measuring kind's name (``measure.kind.MeasurementKind.name``)

    @abstractmethod
    def judge(self, result: RoundResult, network: Network) -> KindFindings:
        """The findings, with ``network`` as the round's controls saw it."""
