"""Stop a download once its rate has settled: a plateau needs no more bytes to be seen.

Data costs money on a metered VPS (speed-test exporters spend ~1 GB a test).
A throttled download is the slowest and so, left to the time-out, the one
that spends most; once its rate has held steady for a while, more bytes only
confirm it. The rule: at least ``min_seconds`` of body, and the goodput over
the first and the second half of the samples since then within
``tolerance`` of each other.
"""

from collections.abc import Sequence

from probe.measure.goodput import goodput_bytes_per_second
from probe.records import ByteSample

MIN_SECONDS = 10.0
TOLERANCE = 0.15
MIN_SAMPLES_PER_HALF = 4


def plateau_reached(samples: Sequence[ByteSample]) -> bool:
    """True when the rate over the two halves of the download agrees (see above)."""
    if len(samples) < 2 * MIN_SAMPLES_PER_HALF or samples[-1].t - samples[0].t < MIN_SECONDS:
        return False
    middle = samples[0].t + (samples[-1].t - samples[0].t) / 2
    first = [s for s in samples if s.t <= middle]
    second = [s for s in samples if s.t >= middle]
    if min(len(first), len(second)) < MIN_SAMPLES_PER_HALF:
        return False
    early = goodput_bytes_per_second(first, rtt=None)
    late = goodput_bytes_per_second(second, rtt=None)
    if early is None or late is None or max(early, late) <= 0:
        return False
    return abs(early - late) / max(early, late) <= TOLERANCE
