"""The plateau rule on synthetic series and on sessions recorded in the lab."""

import json
from pathlib import Path

import pytest

from probe.measure.plateau import WINDOW_SECONDS, plateau_reached
from probe.records import ByteSample

RECORDED = json.loads((Path(__file__).parent / "data" / "lab-policed-sessions.json").read_text())
RATE = 150_000 / 8  # bytes per second


def steady(seconds: float, rate: float = RATE, step: float = 0.25) -> list[ByteSample]:
    return [ByteSample(i * step, int(i * step * rate)) for i in range(int(seconds / step) + 1)]


def first_plateau(samples: list[ByteSample]) -> float | None:
    """Seconds of body after which the rule, judging each new sample, first says yes."""
    for count in range(1, len(samples) + 1):
        if plateau_reached(samples[:count]):
            return samples[count - 1].t - samples[0].t
    return None


def test_a_steady_rate_is_a_plateau_once_the_window_is_full() -> None:
    assert first_plateau(steady(30)) == pytest.approx(WINDOW_SECONDS)


def test_a_rate_that_keeps_climbing_is_no_plateau() -> None:
    # Twice as fast every 5 s: each half of any window is far from the other.
    samples = [ByteSample(i / 4, int(RATE * 2 ** (i / 20))) for i in range(121)]
    assert first_plateau(samples) is None


def test_a_stalled_second_half_is_no_plateau() -> None:
    samples = steady(6) + [ByteSample(6 + i / 4, steady(6)[-1].bytes) for i in range(1, 25)]
    assert first_plateau(samples) is None


def test_too_few_samples_are_no_plateau() -> None:
    assert not plateau_reached(steady(30, step=5.0))  # 7 samples over 30 s


@pytest.mark.parametrize("session", sorted(RECORDED))
def test_a_policed_session_settles_within_a_few_seconds_of_the_window(session: str) -> None:
    """Recorded under sni-police at 150 kbit/s: each starts with the bucket's burst
    and a slow climb back after the losses; halves anchored at the first byte saw
    the upload's rate differ by 20% until its 15 s budget ran out. The climb back
    after the burst keeps the download's first 2-2.5 s out of any plateau."""
    samples = [ByteSample(t, size) for t, size in RECORDED[session]]
    settled = first_plateau(samples)
    assert settled is not None and settled < WINDOW_SECONDS + 3
