"""Verdicts on slow networks and against a target's own history (no network)."""

import pytest

from probe.analysis import history, stats, target_verdict
from probe.analysis.history import Baseline, TargetHistory, round_ratio, sustained_drop
from probe.analysis.target_verdict import Verdict, judge_round
from probe.analysis.window_verdict import judge_window
from probe.measure import greyzone
from probe.records import (
    Failure,
    Mechanism,
    Remeasured,
    RoundResult,
    RttSample,
    Rule,
    StopReason,
    VerdictKind,
)
from tests.test_verdict import download

OK, DEGRADED, THROTTLED = VerdictKind.OK, VerdictKind.DEGRADED, VerdictKind.THROTTLED

# -- slow networks: the controls' median under 1 Mbit/s --------------------------------


def slow_round(
    target_rate: float,
    *,
    lost: int,
    plateau: bool,
    queued: bool = False,
    alone: float | None = 20.0,
) -> RoundResult:
    """Three controls at 400-500 kbit/s sharing a slow link, and one target; ``alone``:
    how many times faster the slowest control was than the target when each was measured
    alone (None: not measured alone)."""
    controls = [download(f"c{i}", "control", rate) for i, rate in enumerate((50e3, 55e3, 62e3))]
    target = download("t", "target", target_rate, lost=lost)
    assert target.transfer is not None
    if plateau:
        target.transfer.stop_reason = StopReason.PLATEAU
    if queued:  # the target's own in-band probes at 5x its 10 ms connect time
        target.transfer.rtt_probes = [RttSample(i, 0.05) for i in range(10)]
    result = RoundResult("", "", False, [target, *controls])
    if alone is not None:
        solo = download("t", "target", target_rate)
        result.remeasured = Remeasured([solo], download("c0", "control", target_rate * alone))
    return result


def test_a_target_held_flat_with_losses_far_below_slow_controls_is_throttled() -> None:
    verdict = judge_round(slow_round(18_750, lost=20, plateau=True))["t"]

    assert (verdict.verdict, verdict.mechanism) == (VerdictKind.THROTTLED, Mechanism.POLICING)
    assert verdict.rule == Rule.CONTROLS and verdict.evidence.slow_network is True
    assert "on a slow network" in verdict.reason
    assert verdict.evidence.ratio_to_controls_median == pytest.approx(55e3 / 18_750)


def test_a_queue_of_its_own_on_a_slow_network_is_shaping() -> None:
    verdict = judge_round(slow_round(18_750, lost=0, plateau=False, queued=True))["t"]

    assert (verdict.verdict, verdict.mechanism) == (VerdictKind.THROTTLED, Mechanism.SHAPING)


@pytest.mark.parametrize(
    ("rate", "lost", "plateau", "why"),
    [
        (18_750, 20, False, "not held flat"),  # losses, but the rate wandered
        (18_750, 0, True, "not held flat"),  # flat, but no policer's loss and no queue
        (23_000, 20, True, None),  # 2.4x below the controls' median: congestion can do that
    ],
)
def test_a_slow_network_stays_degraded_without_a_throttles_signature(
    rate: float, lost: int, plateau: bool, why: str | None
) -> None:
    verdict = judge_round(slow_round(rate, lost=lost, plateau=plateau))["t"]

    assert verdict.verdict == DEGRADED
    assert verdict.reason.startswith("controls are slow too")
    if why is not None:
        assert why in verdict.reason


@pytest.mark.parametrize(
    ("alone", "verdict"), [(None, DEGRADED), (2.4, DEGRADED), (2.6, THROTTLED)]
)
def test_on_a_slow_network_the_solo_downloads_must_agree(
    alone: float | None, verdict: VerdictKind
) -> None:
    """Congestion can starve one flow of a shared link, not one that has it to itself."""
    got = judge_round(slow_round(18_750, lost=20, plateau=True, alone=alone))["t"]

    assert got.verdict == verdict
    if verdict == DEGRADED:
        assert "not measured alone" in got.reason or "alone only 2.4x" in got.reason
    else:
        solo = got.evidence.alone
        assert "measured alone again" in got.reason and solo and solo.control == "c0"


def test_the_grey_zone_and_the_slow_network_line_are_the_verdicts_own() -> None:
    """The round re-measures exactly the targets the verdicts may need alone."""
    assert greyzone.GREY_ZONE == (target_verdict.SLOW_LINK_RATIO, stats.EXTREME_RATIO)
    assert greyzone.SLOW_CONTROLS == target_verdict.SLOW_NETWORK


def test_a_window_of_slow_network_rounds_keeps_their_verdict() -> None:
    """The pooled 10x test cannot see a 3x policer: the rounds' majority decides."""
    rounds = [slow_round(18_750, lost=20, plateau=True) for _ in range(3)]
    rounds[1] = slow_round(18_750, lost=20, plateau=True, alone=None)  # one round degraded

    window = judge_window(rounds, [judge_round(r) for r in rounds])["t"]

    assert (window.verdict, window.mechanism) == (THROTTLED, Mechanism.POLICING)
    assert window.reason == "policing at ~150 kbit/s on a slow network in 2 of 3 rounds"
    assert window.rate_bytes_per_second == 18_750 and window.evidence.slow_network is True
    assert window.evidence.rounds == [THROTTLED, DEGRADED, THROTTLED]


def test_the_slow_network_ratio_edge_is_two_and_a_half() -> None:
    below = judge_round(slow_round(55e3 / 2.55, lost=20, plateau=True))["t"]
    above = judge_round(slow_round(55e3 / 2.45, lost=20, plateau=True))["t"]

    assert (below.verdict, above.verdict) == (VerdictKind.THROTTLED, DEGRADED)


def test_controls_that_mostly_fail_never_let_a_slow_target_be_throttled() -> None:
    result = slow_round(18_750, lost=20, plateau=True)
    for control in result.targets[1:3]:
        control.failure = Failure.TCP_TIMEOUT

    assert judge_round(result)["t"].verdict == DEGRADED


# -- the baseline and a sustained drop ---------------------------------------------------


def ratio_round(target_rate: float, control_rate: float = 1e6) -> RoundResult:
    """Controls at 1x, 1.1x and 1.2x ``control_rate``: their median is 1.1x."""
    controls = [download(f"c{i}", "control", control_rate * (1 + i / 10)) for i in range(3)]
    return RoundResult("", "", False, [download("t", "target", target_rate), *controls])


def test_the_ratio_is_to_the_controls_median_and_a_solo_pair_stands_for_the_round() -> None:
    result = ratio_round(275e3)
    assert round_ratio(result, "t") == pytest.approx(0.25)

    result.remeasured = Remeasured([download("t", "target", 1e5)], download("c0", "control", 1e6))
    assert round_ratio(result, "t") == pytest.approx(0.1)
    assert round_ratio(result, "absent") is None


def history_of(*ratios: float) -> TargetHistory:
    past = TargetHistory()
    for ratio in ratios:
        past.add("t", ratio)
    return past


def test_no_baseline_before_enough_clean_rounds() -> None:
    assert history_of(*[1.0] * (history.MIN_BASELINE_ROUNDS - 1)).baseline("t") is None
    baseline = history_of(*[1.0] * history.MIN_BASELINE_ROUNDS).baseline("t")
    assert baseline == Baseline(1.0, 1.0, history.MIN_BASELINE_ROUNDS)


def test_the_baseline_is_the_median_and_the_lowest_tenth() -> None:
    baseline = history_of(*(0.5 + i / 10 for i in range(11))).baseline("t")

    assert baseline is not None and baseline.rounds == 11
    assert baseline.ratio == pytest.approx(1.0) and baseline.low == pytest.approx(0.6)


def test_a_ratio_already_a_drop_never_joins_the_baseline() -> None:
    past = history_of(1.0, 1.1, 0.9, 1.0)
    past.add("t", 0.3)  # over 3x below: a drop under way, kept out
    past.add("t", 0.4)  # within 3x: a round like any other
    baseline = past.baseline("t")
    assert baseline is not None and (baseline.ratio, baseline.rounds) == (1.0, 5)


@pytest.mark.parametrize(
    ("recent", "dropped"),
    [
        ([0.3, 0.3, 0.3], True),  # 3.3x below, three rounds running
        ([0.3, 0.34, 0.3], False),  # one round only 2.9x below
        ([1.0, 0.3, 0.3], False),  # two rounds: not yet sustained
        ([0.3, None, 0.3], False),  # a round without a ratio (or on a sick network)
        ([0.3, 1.0, 0.3, 0.3], True),  # three of the latest four
        ([0.3, 0.3, 0.3, 1.0], False),  # ... the latest among them: the drop is over
        ([0.3, 0.3, 1.0, None, 0.3], False),  # only two of the latest four
        ([0.3, None, 0.3, 0.3], True),  # a round without a ratio, spared like a lucky one
        ([0.3, 0.3, None, 0.3], True),
    ],
)
def test_a_drop_is_three_rounds_each_over_three_times_below_the_baseline(
    recent: list[float | None], dropped: bool
) -> None:
    drop = sustained_drop(Baseline(1.0, 0.8, 8), [(ratio, OK) for ratio in recent])

    assert (drop is not None) == dropped
    if drop is not None:
        assert (drop.baseline_ratio, drop.baseline_low) == (1.0, 0.8)
        assert drop.drop == pytest.approx(1 / 0.3) and drop.recent_ratios == [0.3] * 3


def test_a_target_whose_ratio_wanders_is_not_judged_by_its_median() -> None:
    """On a lossy link one time-out makes a 10x difference: the ratios spread widely."""
    wandering = Baseline(ratio=7.5, low=0.8, rounds=10)  # as seen in the lab under 2% loss
    usual_round = [(1.0, OK)] * 3  # 7.5x below the median, but not below its low tenth

    assert sustained_drop(wandering, usual_round) is None
    assert sustained_drop(wandering, [(0.5, OK)] * 3) is not None


def test_a_degraded_round_is_not_part_of_a_drop() -> None:
    recent = [(0.3, OK), (0.3, DEGRADED), (0.3, OK)]

    assert sustained_drop(Baseline(1.0, 0.8, 8), recent) is None


def test_rounds_on_a_sick_network_never_join_the_baseline() -> None:
    past = TargetHistory()
    for _ in range(5):
        past.observe(ratio_round(1.1e6), {"t": OK}, {"t": OK}, healthy_network=False)
    assert past.baseline("t") is None
    for _ in range(5):
        past.observe(ratio_round(1.1e6), {"t": OK}, {"t": OK}, healthy_network=True)
    baseline = past.baseline("t")
    assert baseline is not None and baseline.rounds == 5
    assert baseline.ratio == pytest.approx(1.0)


def judged_run(rates: list[float]) -> tuple[Verdict, Verdict]:
    """The last round's verdict and the window's, judged as the runner does (window of 3)."""
    past = TargetHistory()
    rounds: list[RoundResult] = []
    for rate in rates:
        rounds = [*rounds, ratio_round(rate)][-3:]
        verdicts = [judge_round(r) for r in rounds]
        window = judge_window(rounds, verdicts, history=past)
        round_kinds = {"t": verdicts[-1]["t"].verdict}
        past.observe(rounds[-1], round_kinds, {"t": window["t"].verdict}, healthy_network=True)
    return verdicts[-1]["t"], window["t"]


def test_a_platform_shaped_a_few_times_slower_is_throttled_against_its_history() -> None:
    clean = [1.1e6] * 5
    shaped = [2.75e5] * 3  # 4x below its usual ratio, but nowhere near 10x below the controls

    two_rounds = judged_run([*clean, *shaped[:2]])
    round_verdict, verdict = judged_run([*clean, *shaped])

    assert [v.verdict for v in two_rounds] == [OK, OK]
    assert round_verdict.verdict == OK  # no single round says so
    assert verdict.verdict == VerdictKind.THROTTLED and verdict.rule == Rule.HISTORY
    drop = verdict.evidence.history
    assert drop is not None
    assert drop.baseline_ratio == pytest.approx(1.0) and drop.baseline_rounds == 5
    assert drop.recent_ratios == pytest.approx([0.25] * 3)
    assert "against its own history: 4.0x below its baseline" in verdict.reason


def test_a_network_wide_slowdown_cancels_out_of_the_ratio() -> None:
    everything_slower = [ratio_round(2.75e5, control_rate=2.5e5) for _ in range(3)]
    past = history_of(*[1.0] * 5)

    verdicts = [judge_round(r) for r in everything_slower]
    window = judge_window(everything_slower, verdicts, history=past)

    assert window["t"].verdict == OK and window["t"].rule == Rule.CONTROLS


def test_a_lossy_network_breaks_a_drop() -> None:
    """The same rates, but the controls lose packets at random: no ratio means anything."""
    # 100 of their 1000 segments out of order each, no queue: random loss.
    controls = [download(f"c{i}", "control", 1e6 * (1 + i / 10), lost=100) for i in range(3)]
    lossy = [RoundResult("", "", False, [download("t", "target", 2.75e5), *controls])] * 3
    past = history_of(*[1.0] * 5)

    verdicts = [judge_round(r) for r in lossy]
    window = judge_window(lossy, verdicts, history=past)

    assert window["t"].verdict == OK


def test_the_history_keeps_only_its_latest_rounds() -> None:
    past = TargetHistory(keep=4)
    for ratio in [1.0] * 4 + [2.0] * 4:
        past.add("t", ratio)

    assert past.baseline("t") == Baseline(2.0, 2.0, 4)


def test_the_lowest_tenth_of_ten_rounds_is_the_lowest() -> None:
    baseline = history_of(*(1.0 + i / 10 for i in range(10))).baseline("t")

    assert baseline is not None and baseline.low == 1.0


def test_the_ceiling_edge_a_ratio_on_it_is_no_drop_and_joins_the_baseline() -> None:
    baseline = Baseline(3.0, 2.0, 8)  # the ceiling: min(3.0 / 3, 2.0) = 1.0
    past = history_of(3.0, 3.0, 3.0, 3.0)
    past.add("t", 1.0)

    assert sustained_drop(baseline, [(1.0, OK)] * 3) is None
    assert sustained_drop(baseline, [(0.99, OK)] * 3) is not None
    assert sustained_drop(baseline, [(0.5, OK), (1.0, OK), (0.5, OK)]) is None  # two below
    assert sustained_drop(baseline, [(0.5, OK)] * 3 + [(1.0, OK)]) is None  # the latest on it
    assert past.baseline("t") == Baseline(3.0, 1.0, 5)


def test_only_clean_rounds_with_a_ratio_join_the_baseline() -> None:
    past = history_of(*[1.0] * 4)
    clean = ratio_round(1.1e6)
    failed = ratio_round(1.1e6)
    failed.targets[0].failure = Failure.HTTP_STATUS  # its goodput is no measure of the name
    unmeasured = ratio_round(1.1e6)
    assert unmeasured.targets[0].transfer is not None
    unmeasured.targets[0].transfer.goodput_bytes_per_second = None

    past.observe(clean, {"t": OK}, {"t": VerdictKind.THROTTLED}, healthy_network=True)
    past.observe(failed, {"t": OK}, {"t": OK}, healthy_network=True)
    past.observe(unmeasured, {"t": OK}, {"t": OK}, healthy_network=True)
    past.observe(clean, {"t": VerdictKind.INCONCLUSIVE}, {"t": OK}, healthy_network=True)
    assert round_ratio(failed, "t") is None and round_ratio(unmeasured, "t") is None
    assert past.baseline("t") == Baseline(1.0, 1.0, 4)  # none of them joined
    past.observe(clean, {"t": OK, "other": OK}, {"t": OK}, healthy_network=True)
    assert past.baseline("t") == Baseline(1.0, 1.0, 5)


def test_a_history_verdict_reads_its_rate_and_mechanism_from_the_latest_rounds() -> None:
    """Four clean rounds, then three shaped ones at falling rates, the last with losses."""
    rounds = [ratio_round(1.1e6) for _ in range(4)]
    shaped = [ratio_round(rate) for rate in (3e5, 2.5e5, 2e5)]
    latest = shaped[-1].targets[0].transfer
    assert latest is not None
    latest.tcp_info[-1].reordered_received = 12  # the client saw losses: a policer
    past = history_of(*(round_ratio(r, "t") or 0 for r in rounds))

    verdicts = [judge_round(r) for r in shaped]
    verdict = judge_window(shaped, verdicts, history=past)["t"]

    assert (verdict.verdict, verdict.mechanism) == (THROTTLED, Mechanism.POLICING)
    assert verdict.rate_bytes_per_second == 2.5e5  # the median of the three shaped rounds
    assert verdict.evidence.loss_events == 12
    assert verdict.evidence.method.startswith("against its own history")
    ratios = ", ".join(f"{rate / 1.1e6:.2f}" for rate in (3e5, 2.5e5, 2e5))
    assert f"over 4 clean rounds, the lowest tenth 1.00; now {ratios});" in verdict.reason
    assert verdict.reason.endswith("12 loss events, no RTT inflation")
