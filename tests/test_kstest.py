"""The KS test of Wehe's rule against scipy's, on random samples with and without ties."""

import random

import pytest
from scipy.stats import ks_2samp

from probe.analysis import kstest
from probe.analysis.kstest import ks_p_value, ks_statistic


def samples(rng: random.Random, n: int, m: int) -> tuple[list[float], list[float]]:
    shift = rng.choice([0.0, 0.3, 1.0, 3.0])
    digits = rng.choice([0, 1, 6])  # 0 and 1 digits: many ties, as stalled bins give
    a = [round(rng.gauss(0, 1), digits) for _ in range(n)]
    b = [round(rng.gauss(shift, 1), digits) for _ in range(m)]
    return a, b


def test_exact_p_values_match_scipy() -> None:
    rng = random.Random(2021)
    for _ in range(300):
        a, b = samples(rng, rng.randint(3, 60), rng.randint(3, 180))
        reference = ks_2samp(a, b)  # scipy's 'exact' method at these sizes

        assert ks_statistic(a, b) == pytest.approx(reference.statistic, abs=1e-12)
        assert ks_p_value(a, b) == pytest.approx(reference.pvalue, rel=1e-9, abs=1e-300)


def test_large_samples_use_the_asymptotic_distribution_within_a_hundredth(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(kstest, "EXACT_CELLS", 0)
    rng = random.Random(1)
    for _ in range(30):
        a, b = samples(rng, rng.randint(200, 400), rng.randint(400, 900))

        assert ks_p_value(a, b) == pytest.approx(ks_2samp(a, b).pvalue, abs=0.015)


def test_identical_samples_are_not_different() -> None:
    assert ks_p_value([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0
