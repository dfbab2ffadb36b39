"""Each threshold of the method, tested on both sides of its edge.

A change to any of these numbers or rules changes what the probe calls
throttling; each test here fails when its threshold moves past the values it
straddles (docs/check.md gives the method, with its sources).
"""

import pytest

from probe.analysis import stats
from probe.analysis.compare import Measured, Network, compare
from probe.analysis.target_verdict import judge, judge_round, summarise_controls
from probe.config import parse_config
from probe.measure import loss, plateau
from probe.measure.goodput import goodput_bytes_per_second
from probe.measure.transfer import TransferSettings
from probe.records import (
    AddressCheck,
    ByteSample,
    DnsRecord,
    Failure,
    Phase,
    RoundResult,
    RttSample,
    Rule,
    SoloPair,
    StopReason,
    TargetResult,
    TcpInfoSample,
)
from tests.test_verdict import download, steady

FAST = 2e6  # bytes per second: 16 Mbit/s, above Wehe's fast-link line of 10 Mbit/s
SLOW = 1e5  # 0.8 Mbit/s


def two_masses(faster: float, share: float, count: int = 10) -> tuple[list[float], list[float]]:
    """Two samples of ``count`` equal values whose CDF area is ``share`` of the faster."""
    return [faster] * count, [faster * (1 - share)] * count


# -- Wehe's test: the area and the KS test, each on its own ------------------------------


@pytest.mark.parametrize(
    ("faster", "share", "decision"),
    [
        (FAST, 0.35, "differentiated"),  # fast link: 0.3 of the faster mean is enough
        (FAST, 0.25, "inconclusive"),  # ... 0.25 is not (the KS test alone agrees)
        (SLOW, 0.55, "differentiated"),  # slower links need 0.5
        (SLOW, 0.45, "inconclusive"),
    ],
)
def test_wehe_area_threshold_depends_on_the_link(
    faster: float, share: float, decision: str
) -> None:
    result = stats.wehe_test(*two_masses(faster, share))

    assert result is not None and result.decision == decision
    assert result.area == pytest.approx(share)
    assert result.area_threshold == (0.3 if faster > stats.WEHE_FAST_BYTES else 0.5)


@pytest.mark.parametrize(("count", "decision"), [(5, "differentiated"), (4, "inconclusive")])
def test_wehe_ks_cut_off_is_one_percent(count: int, decision: str) -> None:
    """All of one sample above all of the other: p = 2 / C(2n, n), 0.0079 for 5, 0.029 for 4."""
    result = stats.wehe_test(*two_masses(SLOW, 0.8, count))

    assert result is not None and result.decision == decision
    assert (result.p_value < 0.01) == (count == 5)


def test_wehe_says_not_differentiated_when_neither_agrees() -> None:
    result = stats.wehe_test([SLOW] * 3 + [SLOW * 0.9] * 3, [SLOW] * 3 + [SLOW * 0.9] * 3)

    assert result is not None and result.decision == "not_differentiated"


# -- the controls: queueing, random loss, failures ---------------------------------------


def with_probes(inflated: int, total: int = 20) -> list[RttSample]:
    """In-band RTT probes against a 10 ms connect time, ``inflated`` of them at 50 ms."""
    return [RttSample(i, 0.05 if i < inflated else 0.01) for i in range(total)]


@pytest.mark.parametrize(("inflated", "queueing"), [(5, True), (4, False), (3, False)])
def test_rtt_inflation_in_over_a_fifth_of_the_probes_is_a_queue(
    inflated: int, queueing: bool
) -> None:
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]
    for control in controls:
        assert control.transfer is not None
        control.transfer.rtt_probes = with_probes(inflated)

    assert summarise_controls(controls).queueing is queueing


@pytest.mark.parametrize(("lost", "lossy"), [(25, True), (15, False)])
def test_random_loss_is_over_two_percent_of_segments_out_of_order(lost: int, lossy: bool) -> None:
    controls = [download(f"c{i}", "control", FAST, lost=lost) for i in range(3)]

    summary = summarise_controls(controls)

    assert summary.loss_density == pytest.approx(lost / 1000)
    assert summary.lossy is lossy


@pytest.mark.parametrize(("failed", "verdict"), [(2, "blocked"), (3, "degraded")])
def test_more_than_half_of_the_controls_failing_is_a_degraded_network(
    failed: int, verdict: str
) -> None:
    """Two of four failing is not the network's fault; three of four is."""
    controls = [
        download(f"c{i}", "control", FAST, failure=Failure.TCP_TIMEOUT if i < failed else None)
        for i in range(4)
    ]
    target = download("t", "target", 0, failure=Failure.TLS_RESET)

    assert judge(target, summarise_controls(controls)).verdict == verdict


# -- DNS: different addresses are a CDN unless the evidence says the system's is not the name's


OTHER = "104.244.42.1"  # public: a bogon from the system resolver stands out against it


def disagreeing(
    failure: Failure | None, system: str = "151.101.1.140", check: Failure | str | None = "none"
) -> TargetResult:
    """A target whose system resolver answers ``system``, another resolver ``OTHER``;
    its download failed at the system's address with ``failure``, and the address check
    at the other's ended with ``check`` ("none": it did not run)."""
    target = download("t", "target", FAST, failure=failure)
    assert target.transfer is not None
    target.transfer.address = system
    target.transfer.status = 403 if failure == Failure.HTTP_STATUS else 200
    target.dns = [
        DnsRecord("system", "system", "t", "A", 0.0, 0.01, [system]),
        DnsRecord("quad9", "9.9.9.9:53", "t", "A", 0.0, 0.01, [OTHER]),
    ]
    if check != "none":
        other = download("t", "target", FAST, failure=Failure(check) if check else None).transfer
        assert other is not None
        other.address = OTHER
        target.address_check = AddressCheck("quad9", other)
    return target


@pytest.mark.parametrize(
    ("failure", "check", "label"),
    [
        (None, "none", "ok"),  # a CDN choosing by resolver
        (Failure.HTTP_STATUS, "none", "platform_refused"),
        # The block sits at the system's address, or follows the name: its own stage.
        (Failure.TCP_TIMEOUT, None, "blocked/tcp"),
        (Failure.TLS_RESET, Failure.TLS_RESET, "blocked/tls"),
        (Failure.TLS_RESET, "none", "blocked/tls"),
        # A certificate that is not the name's, where the other's address serves it: a lie.
        (Failure.TLS_CERT_INVALID, None, "blocked/dns"),
        (Failure.TLS_CERT_INVALID, Failure.TLS_CERT_INVALID, "blocked/tls"),
        (Failure.TLS_CERT_INVALID, "none", "blocked/tls"),
        (Failure.TCP_REFUSED, None, "blocked/dns"),  # a stub with no HTTPS
        (Failure.TCP_REFUSED, Failure.TCP_REFUSED, "blocked/tcp"),
    ],
)
def test_other_addresses_from_the_system_resolver_are_tampering_only_if_not_the_names(
    failure: Failure | None, check: Failure | str | None, label: str
) -> None:
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]

    judged = judge(disagreeing(failure, check=check), summarise_controls(controls))

    assert judged.label == label, judged.reason
    assert (judged.rule == Rule.RESOLVERS) is (label == "blocked/dns")


def test_a_sinkhole_address_from_the_system_resolver_is_tampering() -> None:
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]

    judged = judge(disagreeing(Failure.TCP_REFUSED, "10.0.0.1"), summarise_controls(controls))

    assert (judged.label, judged.rule) == ("blocked/dns", Rule.RESOLVERS)


def test_a_time_out_on_a_congested_network_is_degraded_though_the_resolvers_disagree() -> None:
    """The order the issue found wrong: a congested link's time-out, not a DNS block."""
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]
    assert controls[0].transfer is not None
    controls[0].transfer.phases.append(Phase("tls", 0.01, 2.6))  # a retransmitted handshake

    judged = judge(disagreeing(Failure.TCP_TIMEOUT, check=None), summarise_controls(controls))

    assert judged.label == "degraded", judged.reason


def test_the_address_check_joins_the_reason_and_the_evidence() -> None:
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]
    target = disagreeing(Failure.TLS_RESET, check=Failure.TLS_RESET)

    verdict = judge_round(RoundResult("", "", False, [target, *controls]))["t"]

    assert "at quad9's address 104.244.42.1 it fails too (tls_reset)" in verdict.reason
    check = verdict.evidence.address_check
    assert check is not None and (check.resolver, check.failure) == ("quad9", Failure.TLS_RESET)


# -- goodput: the two skips, each where only it matters ----------------------------------


def test_goodput_skips_the_first_round_trip_even_past_ten_percent() -> None:
    """Buffers along the path deliver 30% of the body in the first RTT (1 s), then 10 KB/s."""
    burst = [ByteSample(0.0, 0), ByteSample(0.5, 150_000), ByteSample(0.99, 300_000)]
    steady = [ByteSample(1.0 + i, 300_000 + 10_000 * i) for i in range(11)]

    skipped = goodput_bytes_per_second(burst + steady, rtt=1.0)
    unskipped = goodput_bytes_per_second(burst + steady, rtt=None)

    assert skipped == pytest.approx(10_000)
    assert unskipped is not None and unskipped > 11_000  # the burst would inflate it


def test_goodput_skips_the_first_ten_percent_even_after_the_first_round_trip() -> None:
    """Slow start: 10% of the body over the first 5 s (RTT 50 ms), then 100 KB/s."""
    ramp = [ByteSample(t * 0.5, int(100_000 * (t * 0.5 / 5) ** 2)) for t in range(11)]
    steady = [ByteSample(5.0 + i * 0.5, 100_000 + 50_000 * i) for i in range(1, 19)]

    rate = goodput_bytes_per_second(ramp + steady, rtt=0.05)

    assert rate == pytest.approx(100_000, rel=0.01)


# -- the plateau ---------------------------------------------------------------------------


def ramped(early_rate: float, late_rate: float, seconds: float = 10.0) -> list[ByteSample]:
    """Samples every 0.25 s at ``early_rate`` for half of ``seconds``, then ``late_rate``."""
    samples, total, half = [], 0.0, seconds / 2
    for i in range(int(seconds * 4) + 1):
        t = i / 4
        samples.append(ByteSample(t, int(total)))
        total += (early_rate if t < half else late_rate) / 4
    return samples


@pytest.mark.parametrize(("late", "reached"), [(1.10, True), (1.25, False)])
def test_a_plateau_needs_the_halves_within_fifteen_percent(late: float, reached: bool) -> None:
    assert plateau.plateau_reached(ramped(20_000, 20_000 * late)) is reached


def test_the_plateau_window_slides_past_a_policers_first_burst() -> None:
    """A burst, a slow climb back, then 15 s flat: anchored at the first byte, the
    halves would still hold the burst; the sliding window sees the flat rate."""
    samples, total = [], 0.0
    for i in range(25 * 4 + 1):
        t = i / 4
        samples.append(ByteSample(t, int(total)))
        rate = 80_000 if t < 3 else 8_000 if t < 10 else 20_000
        total += rate / 4

    assert plateau.plateau_reached(samples)  # 15 s flat: the window has held it for 10
    until_12_5 = [s for s in samples if s.t <= 12.5]
    assert not plateau.plateau_reached(until_12_5)  # its window still holds the climb


def test_downloads_stop_at_the_plateau_unless_told_otherwise() -> None:
    """The data cost the docs quote rests on it: by default, in code and in the targets file."""
    config = parse_config(
        "groups: {c: {role: control, targets: [{name: c, url: 'https://c.test/'}]}}", "t"
    )

    assert TransferSettings().stop_at_plateau is True
    assert config.settings.stop_at_plateau is True


# -- one download against its baseline (the SNI swap and the replay test) -----------------


def measured_at(rate: float | None, failure: str | None = None, **kwargs: bool) -> Measured:
    samples = [] if rate is None else steady_samples(rate)
    return Measured(rate, samples, failure, **kwargs)


def steady_samples(rate: float, seconds: float = 10.0) -> list[ByteSample]:
    return [ByteSample(i / 4, int(rate * i / 4)) for i in range(int(seconds * 4) + 1)]


@pytest.mark.parametrize(
    ("this", "baseline", "network", "state"),
    [
        (measured_at(SLOW), None, Network.HEALTHY, "no_baseline"),
        (measured_at(SLOW), measured_at(FAST, "tcp_reset"), Network.HEALTHY, "no_baseline"),
        (measured_at(SLOW), measured_at(None), Network.HEALTHY, "no_baseline"),
        (measured_at(None, "tls_reset"), measured_at(FAST), Network.HEALTHY, "blocked"),
        (measured_at(None, "tls_reset"), measured_at(FAST), Network.DEGRADED, "inconclusive"),
        (measured_at(0.0), measured_at(FAST), Network.HEALTHY, "inconclusive"),
        (measured_at(FAST / 10), measured_at(FAST), Network.HEALTHY, "slowed"),  # 10x exactly
        (measured_at(FAST / 9.9), measured_at(FAST), Network.HEALTHY, "same"),
        (measured_at(FAST / 20), measured_at(FAST), Network.DEGRADED, "inconclusive"),
        (measured_at(FAST / 20), measured_at(FAST), Network.LOSSY, "inconclusive"),
        (measured_at(FAST / 20, plateau=True), measured_at(FAST), Network.LOSSY, "slowed"),
    ],
)
def test_a_download_against_its_baseline(
    this: Measured, baseline: Measured | None, network: Network, state: str
) -> None:
    assert compare(this, baseline, network)[0] == state


def test_ten_times_slower_is_slowed_only_when_wehe_agrees() -> None:
    """A goodput 20x lower, but throughput samples like the baseline's: Wehe's test
    finds no difference, so the comparison is inconclusive, not slowed."""
    unlike = Measured(FAST / 20, steady_samples(FAST), None)

    state, ratio = compare(unlike, measured_at(FAST))

    assert state == "inconclusive" and ratio == pytest.approx(20)


# -- the statistics beneath: loss, RTT inflation, throughput bins -----------------------


def tcp_info(t: float, reordered: int | None, retransmits: int, segments: int) -> TcpInfoSample:
    return TcpInfoSample(t, 0.01, 0.0, 0.01, 0.01, retransmits, 0, reordered, None, 10, 0, segments)


def test_loss_events_are_new_out_of_order_arrivals_plus_new_retransmits() -> None:
    samples = [tcp_info(0.0, 5, 2, 100), tcp_info(1.0, 9, 3, 400), tcp_info(2.0, 12, 5, 1000)]

    assert loss.loss_events(samples) == (12 - 5) + (5 - 2)
    assert loss.loss_events([tcp_info(0.0, None, 0, 0), tcp_info(1.0, 4, 0, 10)]) == 4
    assert loss.loss_events(samples[:1]) == 0 and loss.loss_events([]) == 0


def test_loss_density_pools_every_download_with_two_samples_or_more() -> None:
    too_short = [tcp_info(0.0, 0, 0, 0)]
    first = [tcp_info(0.0, 0, 0, 0), tcp_info(1.0, 10, 0, 1000)]
    second = [tcp_info(0.0, 0, 0, 500), tcp_info(1.0, 30, 0, 1500)]

    assert loss.loss_density([too_short, first, second]) == pytest.approx(40 / 2000)
    assert loss.loss_density([too_short]) is None


@pytest.mark.parametrize(
    ("connect", "inflated", "fine"),
    [
        (0.100, 0.131, 0.129),  # 1.3x the connect time rules above 16 ms ...
        (0.010, 0.0151, 0.0149),  # ... and 5 ms more below it
    ],
)
def test_rtt_inflation_is_over_one_point_three_times_and_five_ms(
    connect: float, inflated: float, fine: float
) -> None:
    probes = [RttSample(0, inflated), RttSample(1, fine), RttSample(2, fine), RttSample(3, None)]

    # The unanswered probe counts as inflated: a queue that drops the SYN is a queue.
    assert stats.rtt_inflated_share(probes, connect) == pytest.approx(2 / 4)
    assert stats.rtt_inflated_share([], connect) is None
    assert stats.rtt_inflated_share(probes, None) is None


def test_throughput_bins_cut_the_download_into_ten_equal_intervals() -> None:
    samples = [
        ByteSample(0.0, 0),
        ByteSample(1.0, 1000),
        ByteSample(4.0, 1000),
        ByteSample(5.0, 6000),
    ]

    bins = stats.throughput_bins(samples)

    # 0.5 s each: 1000 B/s for 1 s, nothing for 3 s, then 5000 B/s for the last second.
    assert bins == pytest.approx([1000.0, 1000.0] + [0.0] * 6 + [5000.0, 5000.0])
    assert stats.throughput_bins(samples[:1]) == []
    assert stats.throughput_bins([ByteSample(1.0, 0), ByteSample(1.0, 10)]) == []


# -- random loss on a name's flows, and the chance stall ------------------------------------


@pytest.mark.parametrize(
    ("slower", "lost", "control_lost", "label"),
    [
        (3.0, 500, 1, "throttled/loss"),  # 50% of its segments out of order, the controls 0.1%
        (1.4, 500, 1, "ok"),  # under LOSS_SLOWDOWN: unrelated servers differ that much
        (3.0, 90, 10, "ok"),  # 9x the controls' share: under DISTINCT_LOSS
        (3.0, 15, 0, "ok"),  # 1.5% of its own: under LOSSY_NETWORK, however clean the controls
        (3.0, 200, 30, "ok"),  # 7x the controls' 3%: the network loses, and so does it
    ],
)
def test_random_loss_of_its_own_is_throttling_under_ten_x(
    slower: float, lost: int, control_lost: int, label: str
) -> None:
    controls = [download(f"c{i}", "control", FAST, lost=control_lost) for i in range(3)]
    target = download("t", "target", FAST / slower, lost=lost)

    verdict = judge(target, summarise_controls(controls))

    assert verdict.label == label, verdict.reason
    if label == "throttled/loss":
        assert verdict.evidence.out_of_order_share == pytest.approx(0.5)
        assert verdict.evidence.loss_ratio_to_controls == pytest.approx(500)
        assert "losing packets of its own: 50.0% of its segments out of order" in verdict.reason


def test_own_random_loss_with_a_rate_held_flat_is_a_policer_under_ten_x() -> None:
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]
    target = download("t", "target", FAST / 3, lost=500)
    assert target.transfer is not None
    target.transfer.stop_reason = StopReason.PLATEAU

    assert judge(target, summarise_controls(controls)).label == "throttled/policing"


def stalled(rate: float) -> TargetResult:
    """A download that stalled twice on retransmission time-outs: bursts, then nothing."""
    target = download("t", "target", rate, lost=1)
    assert target.transfer is not None
    total = int(rate * 10)
    target.transfer.samples = [ByteSample(0.25 * i, total * (i // 20) // 2) for i in range(41)]
    return target


def solo(target_rate: float, control_rate: float) -> SoloPair:
    return SoloPair(download("t", "target", target_rate), download("c0", "control", control_rate))


@pytest.mark.parametrize(
    ("alone", "label"),
    [
        (None, "inconclusive"),  # not measured alone: nothing says which it was
        (solo(FAST, FAST), "ok"),  # alone, as fast as the control: a chance stall
        (solo(FAST / 20, FAST), "throttled/policing"),  # alone just as slow: a throttle
    ],
)
def test_a_ten_x_slow_unsteady_download_without_loss_of_its_own_is_judged_alone(
    alone: SoloPair | None, label: str
) -> None:
    controls = [download(f"c{i}", "control", FAST, lost=1) for i in range(3)]

    verdict = judge(stalled(FAST / 20), summarise_controls(controls), alone)

    assert verdict.label == label, verdict.reason


@pytest.mark.parametrize(
    ("alone", "label"),
    [
        (None, "inconclusive"),
        (solo(FAST, FAST), "ok"),  # the probe's own stall, or the server's: gone alone
        (solo(FAST / 20, FAST), "throttled/unknown"),  # alone as slow: something holds it
    ],
)
def test_a_ten_x_slow_steady_download_that_neither_loses_nor_queues_is_judged_alone(
    alone: SoloPair | None, label: str
) -> None:
    """A throttle drops (a policer) or queues (a shaper): 10x slow with neither, and a
    steady rate, is what a loaded machine's own stall made of a clean round once."""
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]
    target = download("t", "target", FAST / 20)
    assert target.transfer is not None and loss.loss_events(target.transfer.tcp_info) == 0

    verdict = judge(target, summarise_controls(controls), alone)

    assert verdict.label == label, verdict.reason


def test_without_tcp_info_a_steady_ten_x_slow_download_is_still_judged_by_wehe() -> None:
    """QUIC's client sees no loss: "it lost nothing" cannot be said, so no solo download
    is asked for (the lab's QUIC policer reads throttled/unknown)."""
    controls = [download(f"c{i}", "control", FAST) for i in range(3)]
    target = download("t", "target", FAST / 20)
    assert target.transfer is not None
    target.transfer.tcp_info = []

    assert judge(target, summarise_controls(controls)).label == "throttled/unknown"


@pytest.mark.parametrize(
    ("loss", "baseline_loss", "state"),
    [(0.5, 0.001, "slowed"), (0.5, 0.06, "same"), (0.015, 0.0, "same"), (None, 0.0, "same")],
)
def test_the_swap_reads_random_loss_of_its_own_under_ten_x_as_slowed(
    loss: float | None, baseline_loss: float, state: str
) -> None:
    """3x slower: slowed only when it loses 10x the baseline's share, and over 2%."""
    slowed = Measured(FAST / 3, steady(FAST / 3), None, loss=loss)
    baseline = Measured(FAST, steady(FAST), None, loss=baseline_loss)

    assert compare(slowed, baseline)[0] == state
