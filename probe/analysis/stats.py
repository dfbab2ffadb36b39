"""Statistics over the sample series: throughput bins, Wehe's test, plateau, loss, RTT.

Pure functions over records; nothing here does I/O.
"""

import bisect
import itertools
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from probe.analysis.kstest import ks_p_value
from probe.records import ByteSample, RttSample

EXTREME_RATIO = 10.0  # OONI: "extreme" throttling is 10x slower
BINS_PER_DOWNLOAD = 10
WEHE_AREA = 0.5  # area between throughput CDFs, as a share of the faster mean
WEHE_AREA_FAST = 0.3  # ... when the faster side is above 10 Mbit/s
WEHE_FAST_BYTES = 10e6 / 8
WEHE_P_VALUE = 0.01
RTT_INFLATION = 1.3  # Flach et al.: above 1.3x the baseline RTT ...
RTT_INFLATED_SHARE = 0.2  # ... in over 20% of the samples means a queue
RTT_INFLATION_FLOOR = 0.005  # and at least 5 ms more, so loopback jitter is not a queue


def throughput_bins(samples: Sequence[ByteSample], bins: int = BINS_PER_DOWNLOAD) -> list[float]:
    """Bytes per second in ``bins`` equal intervals from the first to the last sample.

    Cumulative bytes are interpolated linearly between samples, so the bins
    do not depend on when the memoryless timer happened to fire.
    """
    if len(samples) < 2 or samples[-1].t <= samples[0].t:
        return []
    start, end = samples[0].t, samples[-1].t
    width = (end - start) / bins
    edges = [_bytes_at(samples, start + i * width) for i in range(bins + 1)]
    return [(edges[i + 1] - edges[i]) / width for i in range(bins)]


def _bytes_at(samples: Sequence[ByteSample], t: float) -> float:
    for before, after in itertools.pairwise(samples):
        if before.t <= t <= after.t:
            if after.t == before.t:
                return float(after.bytes)
            share = (t - before.t) / (after.t - before.t)
            return before.bytes + share * (after.bytes - before.bytes)
    return float(samples[-1].bytes if t >= samples[-1].t else samples[0].bytes)


@dataclass(frozen=True)
class WeheResult:
    """Wehe's decision: both tests must agree for ``differentiated``."""

    area: float
    area_threshold: float
    p_value: float
    decision: str  # "differentiated", "not_differentiated" or "inconclusive"


def wehe_test(a: Sequence[float], b: Sequence[float]) -> WeheResult | None:
    """Compare two throughput samples; None when either has fewer than three values."""
    if len(a) < 3 or len(b) < 3:
        return None
    faster = max(statistics.fmean(a), statistics.fmean(b))
    threshold = WEHE_AREA_FAST if faster > WEHE_FAST_BYTES else WEHE_AREA
    area = cdf_area(a, b) / faster if faster > 0 else 0.0
    p_value = ks_p_value(a, b)
    big_area, significant = area >= threshold, p_value < WEHE_P_VALUE
    if big_area and significant:
        decision = "differentiated"
    elif big_area or significant:
        decision = "inconclusive"
    else:
        decision = "not_differentiated"
    return WeheResult(area, threshold, p_value, decision)


def cdf_area(a: Sequence[float], b: Sequence[float]) -> float:
    """The area between the empirical CDFs of ``a`` and ``b`` (in the values' unit)."""
    sorted_a, sorted_b = sorted(a), sorted(b)
    points = sorted(set(a) | set(b))
    area = 0.0
    for left, right in itertools.pairwise(points):
        below_a = bisect.bisect_right(sorted_a, left) / len(a)
        below_b = bisect.bisect_right(sorted_b, left) / len(b)
        area += abs(below_a - below_b) * (right - left)
    return area


def coefficient_of_variation(values: Sequence[float]) -> float | None:
    """How flat a throughput series is: 0 is a perfect plateau."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    return statistics.pstdev(values) / mean if mean > 0 else None


def rtt_inflated_share(probes: Sequence[RttSample], baseline: float | None) -> float | None:
    """The share of in-band RTT probes well above ``baseline`` (None: nothing to judge)."""
    if not probes or baseline is None:
        return None
    limit = max(baseline * RTT_INFLATION, baseline + RTT_INFLATION_FLOOR)
    inflated = sum(1 for p in probes if p.rtt is None or p.rtt > limit)
    return inflated / len(probes)
