"""Verdicts on slow networks and against a target's own history (no network)."""

import pytest

from probe.analysis import history
from probe.analysis.history import TargetHistory, round_ratio, sustained_drop
from probe.analysis.target_verdict import Verdict, judge_round
from probe.analysis.window_verdict import judge_window
from probe.records import (
    Failure,
    Mechanism,
    RoundResult,
    RttSample,
    Rule,
    SoloPair,
    StopReason,
    VerdictKind,
)
from tests.test_verdict import download

OK, DEGRADED = VerdictKind.OK, VerdictKind.DEGRADED

# -- slow networks: the controls' median under 1 Mbit/s --------------------------------


def slow_round(
    target_rate: float, *, lost: int, plateau: bool, queued: bool = False
) -> RoundResult:
    """Three controls at 400-500 kbit/s sharing a slow link, and one target."""
    controls = [download(f"c{i}", "control", rate) for i, rate in enumerate((50e3, 55e3, 62e3))]
    target = download("t", "target", target_rate, lost=lost)
    assert target.transfer is not None
    if plateau:
        target.transfer.stop_reason = StopReason.PLATEAU
    if queued:  # the target's own in-band probes at 5x its 10 ms connect time
        target.transfer.rtt_probes = [RttSample(i, 0.05) for i in range(10)]
    return RoundResult("", "", False, [target, *controls])


def test_a_target_held_flat_with_losses_far_below_slow_controls_is_throttled() -> None:
    verdict = judge_round(slow_round(18_750, lost=20, plateau=True))["t"]

    assert (verdict.verdict, verdict.mechanism) == (VerdictKind.THROTTLED, Mechanism.POLICING)
    assert verdict.rule == Rule.CONTROLS and verdict.evidence["slow_network"] is True
    assert "on a slow network" in verdict.reason
    assert verdict.evidence["ratio_to_slowest_control"] == pytest.approx(50e3 / 18_750)


def test_a_queue_of_its_own_on_a_slow_network_is_shaping() -> None:
    verdict = judge_round(slow_round(18_750, lost=0, plateau=False, queued=True))["t"]

    assert (verdict.verdict, verdict.mechanism) == (VerdictKind.THROTTLED, Mechanism.SHAPING)


@pytest.mark.parametrize(
    ("rate", "lost", "plateau", "why"),
    [
        (18_750, 20, False, "not held flat"),  # losses, but the rate wandered
        (18_750, 0, True, "not held flat"),  # flat, but no policer's loss and no queue
        (21_000, 20, True, None),  # 2.4x below the slowest control: congestion can do that
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


def test_the_slow_network_ratio_edge_is_two_and_a_half() -> None:
    below = judge_round(slow_round(50e3 / 2.55, lost=20, plateau=True))["t"]
    above = judge_round(slow_round(50e3 / 2.45, lost=20, plateau=True))["t"]

    assert (below.verdict, above.verdict) == (VerdictKind.THROTTLED, DEGRADED)


def test_controls_that_mostly_fail_never_let_a_slow_target_be_throttled() -> None:
    result = slow_round(18_750, lost=20, plateau=True)
    for control in result.targets[1:3]:
        control.failure = Failure.TCP_TIMEOUT

    assert judge_round(result)["t"].verdict == DEGRADED


# -- the baseline and a sustained drop ---------------------------------------------------


def ratio_round(target_rate: float, control_rate: float = 1e6) -> RoundResult:
    controls = [download(f"c{i}", "control", control_rate * (1 + i / 10)) for i in range(3)]
    return RoundResult("", "", False, [download("t", "target", target_rate), *controls])


def test_the_ratio_is_to_the_slowest_control_and_a_solo_pair_stands_for_the_round() -> None:
    result = ratio_round(250e3)
    assert round_ratio(result, "t") == pytest.approx(0.25)

    result.remeasured = [SoloPair(download("t", "target", 1e5), download("c0", "control", 1e6))]
    assert round_ratio(result, "t") == pytest.approx(0.1)
    assert round_ratio(result, "absent") is None


def test_no_baseline_before_enough_clean_rounds() -> None:
    past = TargetHistory()
    for _ in range(history.MIN_BASELINE_ROUNDS - 1):
        past.add("t", 1.0)
    assert past.baseline("t") is None
    past.add("t", 1.0)
    assert past.baseline("t") == (1.0, history.MIN_BASELINE_ROUNDS)


def test_a_ratio_already_below_the_baseline_never_joins_it() -> None:
    past = TargetHistory()
    for ratio in (1.0, 1.1, 0.9, 1.0):
        past.add("t", ratio)
    past.add("t", 0.3)  # a drop under way: kept out
    past.add("t", 0.4)  # within 3x: a round like any other
    assert past.baseline("t") == (1.0, 5)


@pytest.mark.parametrize(
    ("recent", "dropped"),
    [
        ([0.3, 0.3, 0.3], True),  # 3.3x below, three rounds running
        ([0.3, 0.34, 0.3], False),  # one round only 2.9x below
        ([1.0, 0.3, 0.3], False),  # two rounds: not yet sustained
        ([0.3, None, 0.3], False),  # a round without a ratio breaks the run
    ],
)
def test_a_drop_is_three_rounds_each_over_three_times_below_the_baseline(
    recent: list[float | None], dropped: bool
) -> None:
    drop = sustained_drop((1.0, 8), [(ratio, OK) for ratio in recent])

    assert (drop is not None) == dropped
    if drop is not None:
        assert drop.baseline_ratio == 1.0 and drop.drop == pytest.approx(1 / 0.3)


def test_a_degraded_round_is_not_part_of_a_drop() -> None:
    recent = [(0.3, OK), (0.3, DEGRADED), (0.3, OK)]

    assert sustained_drop((1.0, 8), recent) is None


def judged_run(rates: list[float]) -> tuple[Verdict, Verdict]:
    """The last round's verdict and the window's, judged as the runner does (window of 3)."""
    past = TargetHistory()
    rounds: list[RoundResult] = []
    for rate in rates:
        rounds = [*rounds, ratio_round(rate)][-3:]
        verdicts = [judge_round(r) for r in rounds]
        window = judge_window(rounds, verdicts, history=past)
        past.observe(rounds[-1], {"t": verdicts[-1]["t"].verdict}, {"t": window["t"].verdict})
    return verdicts[-1]["t"], window["t"]


def test_a_platform_shaped_a_few_times_slower_is_throttled_against_its_history() -> None:
    clean = [1e6] * 5
    shaped = [2.5e5] * 3  # 4x below its usual ratio, but nowhere near 10x below the controls

    two_rounds = judged_run([*clean, *shaped[:2]])
    round_verdict, verdict = judged_run([*clean, *shaped])

    assert [v.verdict for v in two_rounds] == [OK, OK]
    assert round_verdict.verdict == OK  # no single round says so
    assert verdict.verdict == VerdictKind.THROTTLED and verdict.rule == Rule.HISTORY
    evidence = verdict.evidence["history"]
    assert evidence["baseline_ratio"] == pytest.approx(1.0) and evidence["baseline_rounds"] == 5
    assert evidence["recent_ratios"] == pytest.approx([0.25] * 3)
    assert "against its own history: 4.0x below its baseline" in verdict.reason


def test_a_network_wide_slowdown_cancels_out_of_the_ratio() -> None:
    everything_slower = [ratio_round(2.5e5, control_rate=2.5e5) for _ in range(3)]
    past = TargetHistory()
    for _ in range(5):
        past.add("t", 1.0)

    verdicts = [judge_round(r) for r in everything_slower]
    window = judge_window(everything_slower, verdicts, history=past)

    assert window["t"].verdict == OK and window["t"].rule == Rule.CONTROLS
