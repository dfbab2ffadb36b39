"""Stop a download once its rate has settled: a plateau needs no more bytes to be seen.

Data costs money on a metered VPS (speed-test exporters spend ~1 GB a test).
A throttled download is the slowest and so, left to the time-out, the one
that spends most; once its rate has held steady for a while, more bytes only
confirm it. The rule: at least ``WINDOW_SECONDS`` of body, and the rates
fitted to the two halves of the latest ``WINDOW_SECONDS`` within
``TOLERANCE`` of each other.

The window slides rather than starting at the first byte because a policer
does not settle at once: its bucket lets a burst through, the losses that
follow throttle TCP below the policed rate, and TCP climbs back over some
seconds. Halves anchored at the first byte keep that start in the first half
and can miss a rate that has long been flat (seen in the lab: 112 against
148 kbit/s after 15 s of an upload policed at 150 kbit/s).

Seven seconds because the bytes a policed target costs are its policer's
burst plus the window at the policed rate. Recorded lab downloads policed at
150 kbit/s, replayed through this rule: a 10 s window stopped them at
192-224 KiB, 8 s at a median 176 and at most 224 KiB after at most 10.2 s,
7 s at a median 160 and at most 192 KiB after at most 9.2 s. Each 3.5 s half
still holds three or four 16 KB TLS records at 150 kbit/s (one a second), so
the fitted rate stays near the policed one (median 131 kbit/s, 103-174).
6 s spends little less (median 144, the same maximum) on halves of two or
three records.

The rates are plain least-squares fits over every sample of a half, not
``goodput``, which leaves out a flat tail: here a tail that has stopped
growing is a stall under way, and no plateau.
"""

from collections.abc import Sequence

from probe.measure.goodput import least_squares_slope
from probe.records import ByteSample

WINDOW_SECONDS = 7.0
TOLERANCE = 0.15
MIN_SAMPLES_PER_HALF = 4


def plateau_reached(samples: Sequence[ByteSample]) -> bool:
    """True when the rate over the two halves of the latest window agrees (see above)."""
    if len(samples) < 2 * MIN_SAMPLES_PER_HALF:
        return False
    end = samples[-1].t
    if end - samples[0].t < WINDOW_SECONDS:
        return False
    start = end - WINDOW_SECONDS
    middle = start + WINDOW_SECONDS / 2
    first = [s for s in samples if start <= s.t <= middle]
    second = [s for s in samples if s.t >= middle]
    if min(len(first), len(second)) < MIN_SAMPLES_PER_HALF:
        return False
    early = least_squares_slope(first)
    late = least_squares_slope(second)
    if early is None or late is None or max(early, late) <= 0:
        return False
    return abs(early - late) / max(early, late) <= TOLERANCE
