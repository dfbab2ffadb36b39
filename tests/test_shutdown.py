"""Only domestic services answer: the shutdown rule and the round's network state."""

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from probe.analysis.round_judgement import judge_all
from probe.analysis.window_verdict import judge_window
from probe.config import Identity, parse_config
from probe.records import Failure, NetworkState, RoundResult, Rule, Stage, TargetResult
from probe.schema import FinishedRound
from probe.sinks.metrics import MetricsSink
from tests.test_verdict import download

FAST = 5e6


def white_listed(*, foreign_control_works: bool = False) -> list[TargetResult]:
    """Two targets and two foreign controls whose ClientHellos time out; a domestic control."""
    domestic = download("yandex", "control", FAST)
    domestic.domestic = True
    foreign = download(
        "debian", "control", FAST, failure=None if foreign_control_works else Failure.TLS_TIMEOUT
    )
    return [
        download("x-home", "target", 0, failure=Failure.TLS_TIMEOUT),
        download("tiktok", "target", 0, failure=Failure.TCP_TIMEOUT),
        domestic,
        foreign,
        download("cloudflare", "control", 0, failure=Failure.TLS_TIMEOUT),
    ]


def test_only_domestic_services_answering_is_a_shutdown_not_a_degraded_network() -> None:
    judgement = judge_all(RoundResult("", "", False, white_listed()))

    assert judgement.network == NetworkState.DOMESTIC_ONLY
    for name, stage in (("x-home", Stage.TLS), ("tiktok", Stage.TCP)):
        verdict = judgement.verdicts[name]
        assert (verdict.label, verdict.rule) == (f"blocked/{stage}", Rule.SHUTDOWN)
        assert verdict.reason.startswith("only domestic services answer")
        assert "all 4 foreign targets and controls" in verdict.reason
        assert "the domestic yandex worked (40 Mbit/s)" in verdict.reason


def test_a_foreign_control_that_works_means_no_shutdown() -> None:
    judgement = judge_all(RoundResult("", "", False, white_listed(foreign_control_works=True)))

    assert judgement.network == NetworkState.HEALTHY  # one of three failed: not most
    assert judgement.verdicts["x-home"].rule == Rule.CONTROLS
    assert judgement.verdicts["x-home"].label == "blocked/tls"


def test_without_a_domestic_control_the_same_round_is_a_failing_network() -> None:
    entries = white_listed()
    entries[2].domestic = False

    judgement = judge_all(RoundResult("", "", False, entries))

    assert judgement.network == NetworkState.FAILING
    assert {v.verdict for v in judgement.verdicts.values()} == {"degraded"}


@pytest.mark.parametrize("failure", [Failure.HTTP_STATUS, Failure.DNS_NXDOMAIN])
def test_a_foreign_failure_past_tls_or_before_tcp_is_no_white_list(failure: Failure) -> None:
    entries = white_listed()
    entries[0].failure = failure
    assert entries[0].transfer is not None
    entries[0].transfer.failure = failure

    assert judge_all(RoundResult("", "", False, entries)).network == NetworkState.FAILING


def test_the_network_state_is_a_metric_state_set() -> None:
    now = "2026-12-01T12:00:00+00:00"
    result = RoundResult(now, now, False, white_listed())
    judgement = judge_all(result)
    config = parse_config(
        "groups: {c: {role: control, targets: [{name: c, url: 'https://c.test/'}]}}", "t"
    )
    registry = CollectorRegistry()
    sink = MetricsSink(registry, Identity())

    window = judge_window([result], [judgement.verdicts])
    sink.round_finished(FinishedRound(1, result, judgement, window, 1, config))

    text = generate_latest(registry).decode()
    assert 'throttle_probe_network_state{state="domestic_only"} 1.0' in text
    assert 'throttle_probe_network_state{state="failing"} 0.0' in text
    assert 'rule="shutdown"' in text
