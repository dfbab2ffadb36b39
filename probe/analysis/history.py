"""Each target against its own history: throttling below OONI's 10x.

A platform shaped to a few times slower than the controls passes the
same-round rule, because unrelated servers differ that much anyway. But a
target's speed *relative to the controls of the same round* is steady from
round to round: the controls cancel out the time of day and the link. So
the daemon keeps, per target, the ratio of its goodput to the slowest
control's in the rounds that looked clean, and takes its median as the
target's baseline. A sustained drop well below it is throttling "against its
own history":

* every one of the latest ``SUSTAINED_ROUNDS`` rounds has the target's ratio
  below ``1 / DROP_FACTOR`` of the baseline, so a single bad round does not;
* in each of them the controls were healthy (a network-wide slowdown makes
  them ``degraded``, and cancels out of the ratio anyway);
* the baseline rests on at least ``MIN_BASELINE_ROUNDS`` clean rounds.

Where a round re-measured a target one download at a time (the grey zone:
see ``measure.round``), the ratio of those two solo downloads stands for the
round: each had the path to itself, so fair sharing of a busy link neither
makes nor hides a throttle.

Rounds judged throttled do not join the baseline, so a throttle that lasts
does not become the new normal. The history lives in the process (the
daemon's, or one `check --rounds N`): a restart starts it afresh.
"""

import statistics
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from probe.records import Role, RoundResult, TargetResult, VerdictKind

MIN_BASELINE_ROUNDS = 4  # an hour of the daemon's default 15-minute rounds
HISTORY_ROUNDS = 96  # a day of them: the baseline follows slow changes of a platform
SUSTAINED_ROUNDS = 3
DROP_FACTOR = 3.0


@dataclass(frozen=True)
class Drop:
    """A sustained drop below the baseline: the evidence of a ``history`` verdict."""

    baseline_ratio: float  # median ratio to the slowest control over the clean rounds
    baseline_rounds: int
    recent_ratios: list[float]  # the latest rounds, oldest first
    drop: float  # baseline over the median of the recent ratios


class TargetHistory:
    """Per target, the ratios to the slowest control in the rounds that looked clean."""

    def __init__(self, keep: int = HISTORY_ROUNDS) -> None:
        self._clean: dict[str, deque[float]] = {}
        self._keep = keep

    def baseline(self, name: str) -> tuple[float, int] | None:
        """(median ratio, rounds it rests on), once there are enough clean rounds."""
        ratios = self._clean.get(name)
        if ratios is None or len(ratios) < MIN_BASELINE_ROUNDS:
            return None
        return statistics.median(ratios), len(ratios)

    def add(self, name: str, ratio: float) -> None:
        """One more clean round, unless ``ratio`` is already a drop: those never join.

        So a drop that has not lasted enough rounds yet does not pull the
        baseline down, and a throttle that lasts never becomes the normal.
        """
        baseline = self.baseline(name)
        if baseline is not None and ratio * DROP_FACTOR < baseline[0]:
            return
        self._clean.setdefault(name, deque(maxlen=self._keep)).append(ratio)

    def observe(
        self,
        result: RoundResult,
        round_verdicts: Mapping[str, VerdictKind],
        window_verdicts: Mapping[str, VerdictKind],
    ) -> None:
        """Add the ratio of every target the round found ``ok`` and the window not throttled."""
        for name, verdict in round_verdicts.items():
            throttled = window_verdicts.get(name) == VerdictKind.THROTTLED
            ratio = round_ratio(result, name)
            if verdict == VerdictKind.OK and not throttled and ratio is not None:
                self.add(name, ratio)


def round_ratio(result: RoundResult, name: str) -> float | None:
    """The target's goodput over the slowest control's in ``result``; None if either is missing.

    The solo re-measurement, when the round made one for this target, stands for the round.
    """
    for pair in result.remeasured:
        if pair.target.name == name:
            return _ratio(pair.target, [pair.control])
    target = next((t for t in result.targets if t.name == name), None)
    if target is None:
        return None
    return _ratio(target, [t for t in result.targets if t.role == Role.CONTROL])


def _ratio(target: TargetResult, controls: Sequence[TargetResult]) -> float | None:
    rate = target.goodput_bytes_per_second
    rates = [c.goodput_bytes_per_second for c in controls if c.failure is None]
    slowest = min((r for r in rates if r), default=None)
    if target.failure is not None or not rate or slowest is None:
        return None
    return rate / slowest


def sustained_drop(
    baseline: tuple[float, int] | None,
    recent: Sequence[tuple[float | None, VerdictKind]],
) -> Drop | None:
    """The drop, if the latest rounds (ratio and round verdict, oldest first) show one."""
    if baseline is None or len(recent) < SUSTAINED_ROUNDS:
        return None
    latest = recent[-SUSTAINED_ROUNDS:]
    healthy = (VerdictKind.OK, VerdictKind.INCONCLUSIVE, VerdictKind.THROTTLED)
    ratios = [ratio for ratio, verdict in latest if ratio is not None and verdict in healthy]
    if len(ratios) < SUSTAINED_ROUNDS:
        return None
    base, rounds = baseline
    if any(ratio * DROP_FACTOR >= base for ratio in ratios):
        return None
    return Drop(base, rounds, ratios, base / statistics.median(ratios))
