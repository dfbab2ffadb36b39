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

Eight seconds because the bytes a policed target costs are its policer's
burst plus the window at the policed rate. Recorded lab downloads policed at
150 kbit/s, replayed through this rule: a 10 s window stopped them at
192-224 KiB, 8 s at a median 176 and at most 224 KiB after at most 10.2 s,
7 s at a median 160 and at most 192 KiB after at most 9.2 s. But 7 s, put
through bench/lab_accuracy.py (--runs 3, 2026-12-03), read the policed
targets of a 3 Mbit/s link shared by eight downloads as ``degraded`` in 4 of
9 target-rounds (right 368/375 against 372 with 8 s). Why is not yet known
(the slow-network rule wants a target 2.5x under the controls, and the bench
does not print the ratios); until it is, the window stays 8 s.

The rates are plain least-squares fits over every sample of a half, not
``goodput``, which leaves out a flat tail: here a tail that has stopped
growing is a stall under way, and no plateau.
"""

from collections.abc import Sequence

from probe.measure.goodput import least_squares_slope
from probe.records import ByteSample

WINDOW_SECONDS = 8.0
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
