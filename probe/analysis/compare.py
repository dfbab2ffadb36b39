"""One download against its baseline: the rule the SNI swap and the replay test share.

Only one thing differs between the two (the name in the ClientHello, or the
ClientHello scrambled), so a difference is the network reacting to it. The
rule is the same as for targets and controls: 10x slower (OONI's "extreme")
makes it suspect, and Wehe's test on the throughput distributions decides.
What the round's controls say about the network bounds what a comparison
can show. On a network that loses packets at random, one short download can
come out 10x slower by chance (a retransmission time-out or two); there only
a download whose rate held flat to its plateau counts as slowed. On a
degraded network (the controls fail or crawl) downloads time out and crawl
whatever their name, so no difference there is evidence.
"""

import enum
from collections.abc import Sequence
from dataclasses import dataclass

from probe.analysis import stats
from probe.measure.loss import LOSS_SLOWDOWN, loses_on_its_own
from probe.records import ByteSample, Comparison, Failure, StopReason


class Network(enum.StrEnum):
    """The network as the round's controls saw it (see above)."""

    HEALTHY = "healthy"
    LOSSY = "lossy"  # they lose packets at random, with no queue to explain it
    DEGRADED = "degraded"  # they fail or crawl


@dataclass(frozen=True)
class Measured:
    """What the comparison needs of a download: its rate, samples and failure."""

    rate: float | None
    samples: Sequence[ByteSample]
    failure: str | None
    plateau: bool = False  # it stopped because its rate had held flat
    loss: float | None = None  # its share of segments out of order (None: no TCP_INFO)


def measured(
    rate: float | None,
    samples: Sequence[ByteSample],
    failure: Failure | None,
    stop_reason: StopReason,
    loss: float | None = None,
) -> Measured:
    """A record's side of the comparison."""
    text = None if failure is None else str(failure)
    return Measured(rate, samples, text, stop_reason == StopReason.PLATEAU, loss)


def compare(
    this: Measured, baseline: Measured | None, network: Network = Network.HEALTHY
) -> tuple[Comparison, float | None]:
    """(state, baseline/this ratio)."""
    if baseline is None or baseline.failure is not None or baseline.rate is None:
        return Comparison.NO_BASELINE, None
    if this.failure is not None:
        blocked = network != Network.DEGRADED
        return (Comparison.BLOCKED if blocked else Comparison.INCONCLUSIVE), None
    if this.rate is None or this.rate <= 0:
        return Comparison.INCONCLUSIVE, None
    ratio = baseline.rate / this.rate
    if ratio < stats.EXTREME_RATIO:
        return _random_loss_of_its_own(this, baseline, ratio), ratio
    if network == Network.DEGRADED or (network == Network.LOSSY and not this.plateau):
        return Comparison.INCONCLUSIVE, ratio
    wehe = stats.wehe_test(
        stats.throughput_bins(this.samples), stats.throughput_bins(baseline.samples)
    )
    differentiated = wehe is not None and wehe.decision == "differentiated"
    return (Comparison.SLOWED if differentiated else Comparison.INCONCLUSIVE), ratio


def _random_loss_of_its_own(this: Measured, baseline: Measured, ratio: float) -> Comparison:
    """Under 10x: ``slowed`` when it loses packets of its own and Wehe's test agrees (the
    July 2024 YouTube pattern, as the verdicts read it), else ``same``."""
    if ratio < LOSS_SLOWDOWN or this.loss is None or not loses_on_its_own(this.loss, baseline.loss):
        return Comparison.SAME
    wehe = stats.wehe_test(
        stats.throughput_bins(this.samples), stats.throughput_bins(baseline.samples)
    )
    differentiated = wehe is not None and wehe.decision == "differentiated"
    return Comparison.SLOWED if differentiated else Comparison.SAME
