"""Goodput over recorded sample series (no network)."""

from probe.measure.goodput import goodput_bytes_per_second
from probe.records import ByteSample, Pause, without_pauses


def series(*points: tuple[float, int]) -> list[ByteSample]:
    return [ByteSample(t, n) for t, n in points]


def test_no_bytes_is_none_not_zero() -> None:
    assert goodput_bytes_per_second([], 0.01) is None
    assert goodput_bytes_per_second(series((0.0, 0)), 0.01) is None
    assert goodput_bytes_per_second(series((0.0, 0), (1.0, 0), (2.0, 0)), 0.01) is None


def test_slow_start_is_left_out() -> None:
    # A burst of 100 KB in the first RTT, then a steady 10 KB/s.
    samples = series((0.0, 0), (0.05, 100_000), (1.0, 109_500), (2.0, 119_500), (3.0, 129_500))

    rate = goodput_bytes_per_second(samples, rtt=0.1)

    assert rate == 10_000


def test_trailing_stall_does_not_dilute_the_rate() -> None:
    samples = series((0.0, 0), (0.5, 50_000), (1.0, 100_000), (5.0, 100_000), (9.0, 100_000))

    rate = goodput_bytes_per_second(samples, rtt=0.0)

    assert rate is not None and 99_000 <= rate <= 101_000


def test_short_download_falls_back_to_the_whole_series() -> None:
    samples = series((0.0, 0), (0.01, 20_000))

    assert goodput_bytes_per_second(samples, rtt=0.05) == 2_000_000


def test_tls_record_staircase_is_fitted_not_read_at_two_steps() -> None:
    # 16 KB arrive as one step every second (a 131 kbit/s link seen through TLS
    # records); sampled every 0.25 s, the fit recovers the rate within a few %.
    samples = [ByteSample(i * 0.25, 16_384 * int(i * 0.25)) for i in range(41)]

    rate = goodput_bytes_per_second(samples, rtt=0.01)

    assert rate is not None and abs(rate - 16_384) / 16_384 < 0.05


def test_pauses_between_requests_are_cut_out_of_the_clock() -> None:
    samples = [
        ByteSample(t, n) for t, n in [(0.0, 0), (1.0, 100), (1.5, 100), (2.0, 100), (3.0, 200)]
    ]
    pauses = [Pause(1.0, 2.0)]

    stitched = without_pauses(samples, pauses)

    # Inside the pause a sample takes its start; after it, the whole pause is cut.
    assert [(s.t, s.bytes) for s in stitched] == [
        (0.0, 0),
        (1.0, 100),
        (1.0, 100),
        (1.0, 100),
        (2.0, 200),
    ]
    assert without_pauses(samples, []) == samples
