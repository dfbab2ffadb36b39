"""Terminal formatting and the live rate (no network)."""

from probe.sinks.terminal import RateMeter
from probe.units import format_bytes, format_rate


def test_rates_are_shown_in_bits_per_second() -> None:
    assert format_rate(None) == "-"
    assert format_rate(18_750) == "150 kbit/s"  # the 2021 Twitter policing rate
    assert format_rate(125_000_000) == "1 Gbit/s"
    assert format_rate(10) == "80 bit/s"
    assert format_bytes(2 * 1024 * 1024) == "2.0 MiB"


def test_rate_meter_follows_the_last_seconds_and_falls_to_zero_on_a_stall() -> None:
    meter = RateMeter(window=2.0)
    for step in range(11):  # 1 MB per second for 10 s
        meter.add(step * 1.0, step * 1_000_000)

    assert meter.bytes_per_second(10.0) == 1_000_000
    assert 0 < meter.bytes_per_second(11.0) < 1_000_000  # slowing: no bytes for 1 s
    assert meter.bytes_per_second(12.5) == 0.0  # nothing within the window
