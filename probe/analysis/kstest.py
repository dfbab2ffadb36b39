"""The two-sample Kolmogorov-Smirnov test (two-sided), Wehe's second test.

scipy.stats.ks_2samp computes the same thing, but importing scipy.stats
costs ~60 MB of resident memory (its anonymous memory alone, measured with
/proc/self/smaps_rollup): more than the rest of the daemon together, for one
function. The test is small enough to keep here:

* the statistic D is the largest distance between the two empirical CDFs,
  evaluated at every observed value (right-continuous, as scipy does);
* its exact p-value (the null distribution when both samples come from one
  continuous distribution) counts the monotone lattice paths from (0, 0) to
  (n, m) that stay strictly within |i/n - j/m| < D (Hodges 1958), in exact
  integers: P(D' >= D) = 1 - inside / C(n + m, n). Within a row of the
  lattice the band is one run of cells, and each cell's count is the running
  sum of the row below over that run: one ``accumulate`` per row;
* past ``EXACT_CELLS`` lattice cells (long windows of rounds) the count gets
  slow, and the asymptotic Kolmogorov distribution with
  Stephens' small-sample correction takes over, as scipy also switches to an
  approximation for large samples.

tests/test_kstest.py checks both against scipy on random samples.
"""

import bisect
import itertools
import math
from collections.abc import Sequence

EXACT_CELLS = 30_000_000  # n * m: about 0.5 s for the exact count (a window of ~300 rounds)


def ks_statistic(a: Sequence[float], b: Sequence[float]) -> float:
    """The largest distance between the empirical CDFs of ``a`` and ``b``."""
    xs, ys = sorted(a), sorted(b)
    n, m = len(xs), len(ys)
    return max(
        abs(bisect.bisect_right(xs, value) / n - bisect.bisect_right(ys, value) / m)
        for value in (*xs, *ys)
    )


def ks_p_value(a: Sequence[float], b: Sequence[float]) -> float:
    """The two-sided p-value of the two-sample KS test (exact up to EXACT_CELLS)."""
    n, m = len(a), len(b)
    d = ks_statistic(a, b)
    if n * m <= EXACT_CELLS:
        return _exact(n, m, d)
    return _asymptotic(n, m, d)


def _exact(n: int, m: int, d: float) -> float:
    # In integer units: |i/n - j/m| >= d  <=>  |i*m - j*n| >= h.
    h = round(d * n * m)
    if h <= 0:
        return 1.0
    # Paths to (i, j) that never left the band, for the row i below.
    inside = [1 if j * n < h else 0 for j in range(m + 1)]
    for i in range(1, n + 1):
        # The band's run in row i: i*m - h < j*n < i*m + h.
        low = max(0, (i * m - h) // n + 1)
        high = min(m, (i * m + h - 1) // n)
        row = [0] * (m + 1)
        if low <= high:
            row[low : high + 1] = itertools.accumulate(inside[low : high + 1])
        inside = row
    total = math.comb(n + m, n)
    return (total - inside[m]) / total


def _asymptotic(n: int, m: int, d: float) -> float:
    root = math.sqrt(n * m / (n + m))
    x = (root + 0.12 + 0.11 / root) * d
    if x < 0.2:
        return 1.0
    terms = (2 * (-1) ** (k - 1) * math.exp(-2 * k * k * x * x) for k in range(1, 101))
    return min(1.0, max(0.0, math.fsum(terms)))
