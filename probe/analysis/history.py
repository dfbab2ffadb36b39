"""Each target against its own history: throttling below OONI's 10x.

A platform shaped to a few times slower than the controls passes the
same-round rule, because unrelated servers differ that much anyway. But a
target's speed *relative to the controls of the same round* is steady from
round to round: the controls cancel out the time of day and the link. So
the daemon keeps, per target, the ratio of its goodput to the controls'
median in the rounds that were ``ok`` on a healthy network, and takes their
median as the target's baseline. A sustained drop well below it is
throttling "against its own history":

* every one of the latest ``SUSTAINED_ROUNDS`` rounds has the target's ratio
  over ``DROP_FACTOR`` times below the baseline, and below the lowest tenth of
  the clean rounds' ratios too, so that a target whose ratio wanders widely
  (on a lossy link, one retransmission time-out makes a 10x difference) is
  not judged by a median it does not keep; a single bad round does not count;
* in each of them the network was healthy: controls that fail, crawl or lose
  packets at random make every ratio meaningless (a network-wide slowdown
  cancels out of the ratio anyway);
* the baseline rests on at least ``MIN_BASELINE_ROUNDS`` clean rounds.

Where a round re-measured a target one download at a time (the grey zone:
see ``measure.round``), the ratio of those two solo downloads stands for the
round: each had the path to itself, so fair sharing of a busy link neither
makes nor hides a throttle.

Ratios already a drop never join the baseline, so a throttle that lasts
does not become the new normal. The history lives in the process (the
daemon's, or one `check --rounds N`); a daemon with an archive reads it back
when it starts (``probe.restore``).
"""

import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from probe.records import Role, RoundResult, TargetResult, VerdictKind

MIN_BASELINE_ROUNDS = 4  # an hour of the daemon's default 15-minute rounds
HISTORY_ROUNDS = 96  # a day of them: the baseline follows slow changes of a platform
SUSTAINED_ROUNDS = 3
LOOKBACK_ROUNDS = 4  # the 3 rounds may be any of the latest 4, the latest among them
DROP_FACTOR = 3.0
LOW_QUANTILE = 0.1  # a drop is also below the lowest tenth of the clean rounds


@dataclass(frozen=True)
class Baseline:
    """A target's usual ratio to the controls, from its clean rounds."""

    ratio: float  # their median
    low: float  # their lowest tenth
    rounds: int

    @property
    def ceiling(self) -> float:
        """A round's ratio must be below this to count towards a drop."""
        return min(self.ratio / DROP_FACTOR, self.low)


@dataclass(frozen=True)
class Drop:
    """A sustained drop below the baseline: the evidence of a ``history`` verdict."""

    baseline_ratio: float  # median ratio to the controls' median over the clean rounds
    baseline_low: float  # the lowest tenth of those ratios
    baseline_rounds: int
    recent_ratios: list[float]  # the latest rounds' that are below the baseline, oldest first
    drop: float  # baseline over the median of the recent ratios


class TargetHistory:
    """Per target, the ratios to the controls in the rounds that were clean."""

    def __init__(self, keep: int = HISTORY_ROUNDS) -> None:
        self._clean: dict[str, deque[float]] = {}
        self._keep = keep

    def baseline(self, name: str) -> Baseline | None:
        """The target's baseline, once there are enough clean rounds."""
        ratios = self._clean.get(name)
        if ratios is None or len(ratios) < MIN_BASELINE_ROUNDS:
            return None
        ordered = sorted(ratios)
        low = ordered[int(LOW_QUANTILE * (len(ordered) - 1))]
        return Baseline(statistics.median(ordered), low, len(ordered))

    def add(self, name: str, ratio: float) -> None:
        """One more clean round, unless ``ratio`` is already a drop: those never join.

        So a drop that has not lasted enough rounds yet does not pull the
        baseline down, and a throttle that lasts never becomes the normal.
        """
        baseline = self.baseline(name)
        if baseline is not None and ratio < baseline.ceiling:
            return
        self._clean.setdefault(name, deque(maxlen=self._keep)).append(ratio)

    def observe(
        self,
        result: RoundResult,
        round_verdicts: Mapping[str, VerdictKind],
        window_verdicts: Mapping[str, VerdictKind],
        healthy_network: bool,
    ) -> None:
        """Add the ratio of every target the round found ``ok`` and the window not
        throttled, if the round's network was healthy."""
        if not healthy_network:
            return
        for name, verdict in round_verdicts.items():
            throttled = window_verdicts.get(name) == VerdictKind.THROTTLED
            ratio = round_ratio(result, name)
            if verdict == VerdictKind.OK and not throttled and ratio is not None:
                self.add(name, ratio)


def round_ratio(result: RoundResult, name: str) -> float | None:
    """The target's goodput over the controls' median in ``result``; None if either is missing.

    The solo re-measurement, when the round made one for this target, stands
    for the round: the target alone over the control measured alone.
    """
    alone = result.alone(name)
    if alone is not None:
        return _ratio(alone.target, [alone.control])
    target = next((t for t in result.targets if t.name == name), None)
    if target is None:
        return None
    return _ratio(target, [t for t in result.targets if t.role == Role.CONTROL])


def _ratio(target: TargetResult, controls: Sequence[TargetResult]) -> float | None:
    rate = target.goodput_bytes_per_second
    rates = [c.goodput_bytes_per_second for c in controls if c.failure is None]
    healthy = [r for r in rates if r]
    if target.failure is not None or not rate or not healthy:
        return None
    return rate / statistics.median(healthy)


def sustained_drop(
    baseline: Baseline | None, recent: Sequence[tuple[float | None, VerdictKind]]
) -> Drop | None:
    """The drop, if the latest rounds (ratio and round verdict, oldest first) show one.

    A round's ratio is None where it has none or its network was not healthy.
    """
    if baseline is None:
        return None
    judged = (VerdictKind.OK, VerdictKind.INCONCLUSIVE, VerdictKind.THROTTLED)
    latest = [
        ratio if ratio is not None and verdict in judged else None
        for ratio, verdict in recent[-LOOKBACK_ROUNDS:]
    ]
    below = [ratio for ratio in latest if ratio is not None and ratio < baseline.ceiling]
    if len(below) < SUSTAINED_ROUNDS or latest[-1] is None or latest[-1] >= baseline.ceiling:
        return None
    drop = baseline.ratio / statistics.median(below)
    return Drop(baseline.ratio, baseline.low, baseline.rounds, below, drop)
