"""Goodput: the one definition every part of the probe uses.

Goodput is the slope of cumulative body bytes over time, fitted by least
squares to the samples of the steady part of the download:

* from the first sample that is both at least one round-trip time after the
  first byte and past 10% of the bytes received (TCP slow start, and a first
  burst from buffers along the path, stay out, as OONI and ndt7 leave them);
* to the first sample that holds the final byte count (trailing samples of a
  stalled download add time, not data: a stall is a failure, not a rate).

A fit rather than two end points because bytes reach the application one TLS
record (16 KB) at a time: at 150 kbit/s that is a step every ~0.9 s, and two
end points that each fall just after a step can be off by a whole record.
With fewer than three samples in that window (a short or very fast download)
the rate between the window's end points is used, and with fewer than two the
whole series from the first byte on. It is None, never 0, when no body byte
was measured, so a failure never passes for a slow link.
"""

from collections.abc import Sequence

from probe.records import ByteSample

SKIP_FRACTION = 0.10


def goodput_bytes_per_second(samples: Sequence[ByteSample], rtt: float | None) -> float | None:
    """Bytes per second over the steady part of ``samples`` (see the module doc)."""
    if len(samples) < 2 or samples[-1].bytes <= samples[0].bytes:
        return None
    final = samples[-1].bytes
    samples = samples[: next(i for i, s in enumerate(samples) if s.bytes == final) + 1]
    start = samples[0]
    settle_time = start.t + (rtt or 0.0)
    threshold = start.bytes + SKIP_FRACTION * (final - start.bytes)
    window = [s for s in samples if s.t >= settle_time and s.bytes >= threshold]
    if len(window) < 2 or window[-1].t <= window[0].t:
        window = list(samples)
    if len(window) >= 3:
        return least_squares_slope(window)
    elapsed = window[-1].t - window[0].t
    return (window[-1].bytes - window[0].bytes) / elapsed if elapsed > 0 else None


def least_squares_slope(samples: Sequence[ByteSample]) -> float | None:
    """Bytes per second of the line fitted to all of ``samples``; None without a spread in time."""
    count = len(samples)
    mean_t = sum(s.t for s in samples) / count
    mean_bytes = sum(s.bytes for s in samples) / count
    spread = sum((s.t - mean_t) ** 2 for s in samples)
    if spread <= 0:
        return None
    return sum((s.t - mean_t) * (s.bytes - mean_bytes) for s in samples) / spread
