"""Goodput: the one definition every part of the probe uses.

Goodput is the rate of body bytes over the sample series, measured from the
first sample that is both at least one round-trip time after the first byte
and past 10% of the bytes received, to the first sample that holds the final
byte count (trailing samples of a stalled download add time, not data, and a
stall is a failure, not a rate). Skipping that start
keeps TCP slow start (and a fast first burst from buffers along the path) out
of the figure, as OONI and ndt7 do. When the window so chosen holds fewer than
two samples (a short or fast download), the whole series from the first byte
on is used instead. It is None, never 0, when no body byte was measured, so a
failure never passes for a slow link.
"""

from collections.abc import Sequence

from probe.records import ByteSample

SKIP_FRACTION = 0.10


def goodput_bytes_per_second(samples: Sequence[ByteSample], rtt: float | None) -> float | None:
    """Bytes per second over the steady part of ``samples`` (see the module doc)."""
    if len(samples) < 2 or samples[-1].bytes <= samples[0].bytes:
        return None
    last_growth = next(i for i, s in enumerate(samples) if s.bytes == samples[-1].bytes)
    samples = samples[: last_growth + 1]
    start = samples[0]
    total = samples[-1].bytes
    settle_time = start.t + (rtt or 0.0)
    window = [
        s for s in samples if s.t >= settle_time and s.bytes >= start.bytes + SKIP_FRACTION * total
    ]
    if len(window) < 2 or window[-1].t <= window[0].t:
        window = list(samples)
    elapsed = window[-1].t - window[0].t
    if elapsed <= 0:
        return None
    return (window[-1].bytes - window[0].bytes) / elapsed
