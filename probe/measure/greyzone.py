"""The grey zone: a target well below the controls, but not by OONI's 10x, measured again alone.

So is one 10x below whose rate never held flat and which lost no more packets
than the controls: a chance stall, or a throttle, which alone tells apart.

Its kind runs after the round's downloads (``Turn.AFTER_TARGETS``) and writes
``RoundResult.remeasured``; ``analysis.greyzone`` reads the solo pairs.
"""

import dataclasses
import statistics

from probe.measure.jobs import Job, Labelled, RoundContext, measure_job
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.loss import loss_density, loss_ratio, no_loss_of_its_own
from probe.records import Remeasured, Role, StopReason, TargetResult


class GreyZone(MeasurementKind):
    name = "grey_zone"
    turn = Turn.AFTER_TARGETS

    async def measure(self, progress: RoundInProgress) -> None:
        remeasured = await remeasure_grey_zone(progress.measured, progress.shared)
        progress.result.remeasured = remeasured


# A target this many times slower than the controls (their median), or more,
# is measured again alone: unrelated servers differ by that much, and so do
# flows that share a busy link unfairly. On a healthy network only while it is
# under OONI's 10x below the slowest control (beyond, the round's own rule is
# sure enough); on a slow one (the controls' median under 1 Mbit/s,
# analysis.target_verdict.SLOW_NETWORK) always, since congestion alone can hold
# one flow far below the others.
GREY_ZONE = (2.5, 10.0)
SLOW_CONTROLS = 1e6 / 8  # bytes/s: the same line as analysis.target_verdict.SLOW_NETWORK


async def remeasure_grey_zone(
    measured: list[tuple[Job, TargetResult]], shared: RoundContext
) -> Remeasured | None:
    """Each target in the grey zone again, one download at a time, then the slowest control.

    One at a time, as Wehe's replays, so that each has the path to itself:
    fair sharing of a busy link then neither makes a throttle nor hides one
    (the verdicts and analysis.history read the solo pair). The control is
    measured once, after the targets, and stands beside each of them.
    """
    controls = [
        (job, result)
        for job, result in measured
        if job.role == Role.CONTROL and result.failure is None and result.goodput_bytes_per_second
    ]
    if not controls:
        return None
    # The front end shows these downloads apart from the round's: "NAME alone".
    shared = dataclasses.replace(shared, listener=Labelled(shared.listener, " alone"))
    slowest_job, slowest = min(controls, key=lambda pair: pair[1].goodput_bytes_per_second or 0)
    median = statistics.median(result.goodput_bytes_per_second or 0 for _, result in controls)
    controls_loss = loss_density([r.transfer.tcp_info for _, r in controls if r.transfer])
    alone = []
    for job, result in measured:
        if job.role != Role.TARGET:
            continue
        if not _in_grey_zone(result, median, slowest) and not _stalled_by_chance(
            result, slowest, controls_loss
        ):
            continue
        if shared.interrupt.requested:
            return None
        alone.append(await measure_job(job, shared))
    if not alone or shared.interrupt.requested:
        return None
    return Remeasured(alone, await measure_job(slowest_job, shared))


def _stalled_by_chance(
    target: TargetResult, slowest_control: TargetResult, controls_loss: float | None
) -> bool:
    """10x or more below the slowest control, its rate never held flat, and no loss of its
    own: on a lossy fast link, what a retransmission time-out or two does by chance; on a
    loaded machine, what the probe's own stall does."""
    rate, slowest = target.goodput_bytes_per_second, slowest_control.goodput_bytes_per_second
    transfer = target.transfer
    if target.failure is not None or not rate or not slowest or transfer is None:
        return False
    if slowest / rate < GREY_ZONE[1] or transfer.stop_reason == StopReason.PLATEAU:
        return False
    return no_loss_of_its_own(loss_ratio(transfer.tcp_info, controls_loss))


def _in_grey_zone(target: TargetResult, median: float, slowest_control: TargetResult) -> bool:
    """2.5x or more below the controls' median, and on a healthy network under 10x
    below the slowest control."""
    rate, slowest = target.goodput_bytes_per_second, slowest_control.goodput_bytes_per_second
    if target.failure is not None or not rate or not slowest:
        return False
    low, high = GREY_ZONE
    return median / rate >= low and (median < SLOW_CONTROLS or slowest / rate < high)
