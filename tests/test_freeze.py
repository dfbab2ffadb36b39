"""Freezes on loopback: where a download froze, the follow-up, and a control's own state.

The loopback origin's ``/stall/N`` sends N body bytes and falls silent: the
shape of the 2025 freeze without the router. The lab (test_detection_lab)
has the real thing, a budget per connection on the router.
"""

import asyncio

from prometheus_client import CollectorRegistry, generate_latest
from rich.console import Console

from probe.analysis.round_judgement import judge_all
from probe.analysis.window_verdict import judge_window
from probe.config import Config, Identity, parse_config
from probe.measure.freeze import FREEZE_BUDGET, freeze_point
from probe.measure.round import measure_round
from probe.records import Failure, RoundResult, Stage, VerdictKind
from probe.schema import FinishedRound, decode_round, encode, round_document
from probe.sinks.metrics import MetricsSink
from probe.sinks.terminal import render_round
from tests.conftest import Lab


def measured(lab: Lab, targets: dict[str, list[tuple[str, str]]]) -> tuple[Config, RoundResult]:
    config = parse_config(lab.config_text(targets), "lab")
    return config, asyncio.run(measure_round(config))


def controls(lab: Lab) -> list[tuple[str, str]]:
    return [(f"ctl-{i}", lab.url("control.test", "/bytes/400000")) for i in range(2)]


def test_a_download_that_stops_dead_early_is_blocked_at_the_freeze_stage(lab: Lab) -> None:
    _, result = measured(
        lab,
        {
            "tiktok": [("frozen", lab.url("tiktok.test", "/stall/10000"))],
            "control": controls(lab),
        },
    )
    verdict = judge_all(result).verdicts["frozen"]

    assert verdict.verdict == VerdictKind.BLOCKED and verdict.stage == Stage.FREEZE
    assert verdict.evidence.froze_after_bytes == 10000
    point = verdict.evidence.freeze
    assert point is not None and not point.reset
    # The connection carried the handshake and the headers too, and TCP_INFO says so.
    assert point.bytes_in is not None and 10000 < point.bytes_in <= FREEZE_BUDGET
    assert point.segments_in and point.segments_out and point.silent_seconds >= 2.0
    assert "froze after" in verdict.reason and "10000 B of body" not in verdict.reason
    assert "9.8 KiB of body" in verdict.reason


def test_the_follow_up_tells_a_frozen_connection_from_a_passing_upload(lab: Lab) -> None:
    _, result = measured(
        lab,
        {
            "tiktok": [("frozen", lab.url("tiktok.test", "/stall/10000"))],
            "control": controls(lab),
        },
    )
    followup = result.targets[0].freeze_followup

    # The origin answers the first HEAD of /stall/N, then falls silent: the
    # keep-alive connection froze; it takes a POST's body whole and answers.
    assert followup is not None
    assert followup.keepalive_froze is True and followup.keepalive_answered == 1
    assert followup.upload_froze is False and followup.upload_acked is not None
    assert followup.upload_acked >= followup.upload_bytes
    verdict = judge_all(result).verdicts["frozen"]
    assert "small requests on one connection froze too" in verdict.reason
    assert "upload went through" in verdict.reason
    assert verdict.evidence.freeze_followup == followup
    # What the follow-up moved counts in the round's data, as the budget sees it.
    downloads = sum(t.transfer.bytes for t in result.targets if t.transfer is not None)
    assert result.bytes_transferred == downloads + followup.upload_acked + (
        followup.keepalive_bytes_in or 0
    )


def test_a_late_stall_is_no_freeze_and_gets_no_follow_up(lab: Lab) -> None:
    _, result = measured(
        lab,
        {
            "tiktok": [("late", lab.url("tiktok.test", "/stall/300000"))],
            "control": controls(lab),
        },
    )
    verdict = judge_all(result).verdicts["late"]

    assert result.targets[0].failure == Failure.STALL
    assert freeze_point(result.targets[0].transfer) is None
    assert verdict.stage == Stage.STALL and result.targets[0].freeze_followup is None


def test_a_frozen_control_is_reported_and_the_others_judge_the_round(lab: Lab) -> None:
    config, result = measured(
        lab,
        {
            "tiktok": [("fine", lab.url("tiktok.test", "/bytes/400000"))],
            "control": [*controls(lab), ("ctl-frozen", lab.url("control.test", "/stall/12000"))],
        },
    )
    judgement = judge_all(result)

    assert judgement.verdicts["fine"].verdict == VerdictKind.OK
    document = decode_round(encode(round_document(result, config, "lab", judgement)))
    states = {e.name: e.control_state for e in document.targets if e.control_state is not None}
    assert {name: state.state for name, state in states.items()} == {
        "ctl-0": "ok",
        "ctl-1": "ok",
        "ctl-frozen": "freeze",
    }
    assert states["ctl-frozen"].froze_after_bytes == 12000
    console = Console(width=200, record=True)
    render_round(console, result, judgement)
    text = console.export_text()
    assert "Frozen connections" in text and "ctl-frozen" in text
    assert "Controls that failed, left out of the figures: ctl-frozen froze after" in text
    assert "The other 2 judge the round." in text
    registry = CollectorRegistry()
    sink = MetricsSink(registry, Identity())
    window = judge_window([result], [judgement.verdicts])
    sink.round_finished(FinishedRound(1, result, judgement, window, 1, config))
    exposition = generate_latest(registry).decode()
    assert (
        'throttle_probe_control_state{group="control",state="freeze",'
        'target="ctl-frozen",transport="tcp"} 1.0'
    ) in exposition
    assert 'throttle_probe_control_state{group="control",state="ok",target="ctl-0"' in exposition
    assert 'throttle_probe_froze_after_bytes{group="control",role="control"' in exposition
