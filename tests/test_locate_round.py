"""daemon.locate in the rounds: the walks a round carries, judged, exported, archived, reported."""

import json
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest

from probe.analysis.round_judgement import judge_all
from probe.analysis.window_verdict import judge_window
from probe.config import Identity, parse_config
from probe.evidence.report import Report
from probe.locator import DailyLocator
from probe.records import (
    Direction,
    Evasion,
    EvasionMatrix,
    EvasionSession,
    ReplayRecord,
    RoundResult,
    SessionStep,
    SessionTrial,
    TtlOutcome,
    TtlStep,
    TtlTrial,
    TtlWalk,
    Variant,
    VerdictKind,
)
from probe.schema import FinishedRound, archive_entry, decode_entry, decode_round, encode
from probe.sinks.metrics import MetricsSink
from tests.test_metrics import samples, value

DATA = Path(__file__).parent / "data"
CONFIG = """
groups:
  tiktok: {role: target, targets: [{name: tiktok-com, url: 'https://www.tiktok.com/'}]}
  control: {role: control, targets: [{name: mirror-yandex-ru, url: 'https://mirror.yandex.ru/'}]}
"""


def reset_at_hop_two() -> TtlWalk:
    expired = TtlTrial(1, TtlOutcome.EXPIRED, 0.01, "192.0.2.2")
    steps = [
        TtlStep(1, expired, expired),
        TtlStep(2, TtlTrial(2, TtlOutcome.RESET, 0.01), TtlTrial(2, TtlOutcome.ANSWERED, 0.01)),
    ]
    walk = TtlWalk("www.tiktok.com", "mirror.yandex.ru", "203.0.113.20", 443, steps, True)
    walk.target = "tiktok-com"
    return walk


def a_round_carrying(walks: list[TtlWalk]) -> FinishedRound:
    result = decode_round(json.loads((DATA / "lab-clean.json").read_text())).result()
    result.locate = walks
    judgement = judge_all(result)
    window = judge_window([result], [judgement.verdicts])
    return FinishedRound(1, result, judgement, window, 1, parse_config(CONFIG, "t"))


def test_a_carried_walk_is_judged_exported_and_written_with_the_round() -> None:
    finished = a_round_carrying([reset_at_hop_two()])
    registry = CollectorRegistry()
    MetricsSink(registry, Identity(id="p"), None).round_finished(finished)

    found = samples(generate_latest(registry).decode())
    assert value(found, "throttle_probe_locate_hop", target="tiktok-com", finding="reset") == 2.0
    entry = decode_entry(json.loads(json.dumps(encode(archive_entry(finished, "t")))))
    assert [(o.name, o.finding, o.hop, o.previous_address) for o in entry.locate] == [
        ("www.tiktok.com", "reset", 2, "192.0.2.2")
    ]
    assert entry.result().locate == [reset_at_hop_two()]  # the records read back whole
    shown = finished.judgement.kinds["locate"].shown()
    assert shown is not None and "resets the name's connections at hop 2" in shown.sentences[0]


def test_the_report_keeps_each_names_latest_location() -> None:
    first = archive_entry(a_round_carrying([reset_at_hop_two()]), "t")
    nothing = reset_at_hop_two()
    nothing.steps[1] = TtlStep(
        2, TtlTrial(2, TtlOutcome.ANSWERED, 0.01), TtlTrial(2, TtlOutcome.ANSWERED, 0.01)
    )
    later = archive_entry(a_round_carrying([nothing]), "t")
    later.started_at, later.round_id = "2026-12-02T00:00:00+00:00", "later"

    report = Report([first, later], [])

    assert [(at.round_id, at.outcome.finding) for at in report.locations] == [("later", "nothing")]
    assert report.document()["locations"][0]["finding"] == "nothing"


def test_a_target_is_located_when_its_window_turns_bad_and_then_not_again_for_a_day() -> None:
    now = [1000.0]
    locator = DailyLocator(clock=lambda: now[0])
    finished = a_round_carrying([])
    blocked = finished.window["tiktok-com"]
    blocked.verdict = VerdictKind.BLOCKED
    finished.window["x-com"] = blocked  # not a target of this config: not located

    assert locator.due(finished) == ["www.tiktok.com"]
    now[0] += 3600
    assert locator.due(finished) == []
    now[0] += 86400
    assert locator.due(finished) == ["www.tiktok.com"]
    blocked.verdict = VerdictKind.OK
    now[0] += 2 * 86400
    assert locator.due(finished) == []


def test_the_sessions_bytes_count_against_the_budget() -> None:
    result = RoundResult("", "", False, [])
    before = result.bytes_transferred
    walk = reset_at_hop_two()
    walk.sessions = [
        SessionStep(1, SessionTrial(1, 1.0, 1000, None), SessionTrial(1, 1.0, 500, None))
    ]
    result.locate = [walk]

    assert result.bytes_transferred == before + 1500


def test_the_daemons_evasion_matrix_is_exported_written_and_reported() -> None:
    walk = reset_at_hop_two()

    def record(kbit: float) -> ReplayRecord:
        made = ReplayRecord("s:443", walk.name, Variant.PLAIN, Direction.DOWNLOAD, 0, 0.0, 0.0)
        made.goodput_bytes_per_second, made.bytes = kbit * 125, int(kbit * 125 * 6)
        return made

    down = Direction.DOWNLOAD
    walk.evasions = EvasionMatrix(
        walk.name,
        "203.0.113.40:443",
        "mirror.yandex.ru",
        2,
        [
            EvasionSession(down, None, record(900_000), baseline=True),
            EvasionSession(down, None, record(150)),
            EvasionSession(down, Evasion.PADDED, record(880_000)),
            EvasionSession(down, Evasion.TRAILING_DOT, record(150)),
        ],
    )
    finished = a_round_carrying([walk])
    registry = CollectorRegistry()
    MetricsSink(registry, Identity(id="p"), None).round_finished(finished)
    found = samples(generate_latest(registry).decode())
    entry = decode_entry(json.loads(json.dumps(encode(archive_entry(finished, "t")))))

    restored = "throttle_probe_evasion_restored"
    assert value(found, restored, target="tiktok-com", evasion="padded", direction="download") == 1
    assert (
        value(found, restored, target="tiktok-com", evasion="trailing_dot", direction="download")
        == 0
    )
    assert entry.result().locate[0].evasions == walk.evasions
    (located,) = Report([entry], []).locations
    assert located.getting_past == "padded"
    assert Report([entry], []).document()["locations"][0]["evasions"] == ["padded"]
    moved = sum(s.record.bytes for s in walk.evasions.sessions if s.record is not None)
    assert moved and finished.result.bytes_transferred >= moved  # the budget counts them


def test_the_hop_stays_exported_until_the_target_is_located_again() -> None:
    registry = CollectorRegistry()
    sink = MetricsSink(registry, Identity(id="p"), None)
    dropped = reset_at_hop_two()
    dropped.steps[1] = TtlStep(
        2,
        TtlTrial(2, TtlOutcome.SILENT, None, retried=True),
        TtlTrial(2, TtlOutcome.ANSWERED, 0.01),
    )

    def hops() -> dict[tuple[str, str], float]:
        found = samples(generate_latest(registry).decode())
        return {
            (dict(labels)["target"], dict(labels)["finding"]): v
            for (name, labels), v in found.items()
            if name == "throttle_probe_locate_hop"
        }

    sink.round_finished(a_round_carrying([reset_at_hop_two()]))
    sink.round_finished(a_round_carrying([]))
    assert hops() == {("tiktok-com", "reset"): 2.0}
    sink.round_finished(a_round_carrying([dropped]))
    assert hops() == {("tiktok-com", "drop"): 2.0}
