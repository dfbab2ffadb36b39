"""The protocol for kinds of measurement: a kind the round, the verdicts and the
terminal have never heard of is measured at its turn, judged, and shown."""

import asyncio
from dataclasses import dataclass

from rich.console import Console

from probe.analysis.compare import Network
from probe.analysis.evidence import Evidence
from probe.analysis.kind import Cell, Column, KindFindings, KindJudge, Note, Shown, Tone
from probe.analysis.round_judgement import judge_all
from probe.analysis.target_verdict import judge_round
from probe.config import Config, parse_config
from probe.measure.jobs import Job, measure_job
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.registry import round_kinds
from probe.measure.round import measure_round
from probe.records import Role, RoundResult, TargetResult
from probe.sinks.terminal import render_round
from tests.conftest import Lab


class Beside(MeasurementKind):
    """Downloads the control's server once more, beside the targets."""

    name = "beside"
    turn = Turn.WITH_TARGETS

    def __init__(self, url: str) -> None:
        self.url = url

    def jobs(self, config: Config) -> list[Job]:
        return [Job("beside", "toy", Role.SNI_SWAP, self.url)]


class Afterwards(MeasurementKind):
    """Measures the first target again after the round, and remembers what it saw."""

    name = "afterwards"
    turn = Turn.AFTER_TARGETS

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.seen: list[str] = []
        self.again: TargetResult | None = None

    async def measure(self, progress: RoundInProgress) -> None:
        self.log.append(self.name)
        self.seen = [entry.name for _, entry in progress.measured]
        first = next(job for job in progress.targets if job.role == Role.TARGET)
        self.again = await measure_job(first, progress.shared)


class Last(MeasurementKind):
    name = "last"
    turn = Turn.ALONE

    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def measure(self, progress: RoundInProgress) -> None:
        self.log.append(self.name)


def config_of(lab: Lab) -> Config:
    text = lab.config_text(
        {
            "twitter": [("tw", lab.url("pbs.twimg.test", "/bytes/200000"))],
            "control": [("ctl", lab.url("control.test", "/bytes/200000"))],
        },
        settings="transports: [tcp]",
    )
    return parse_config(text, "lab")


def test_kinds_run_at_their_turn_whatever_the_order_they_are_given_in(lab: Lab) -> None:
    log: list[str] = []
    afterwards = Afterwards(log)
    # Given last-first: the round orders them by turn.
    kinds = [Last(log), afterwards, Beside(lab.url("control.test", "/bytes/100000"))]

    result = asyncio.run(measure_round(config_of(lab), kinds=kinds))

    assert [t.name for t in result.targets] == ["tw", "ctl", "beside"]
    assert all(t.failure is None for t in result.targets)
    assert log == ["afterwards", "last"]
    assert afterwards.seen == ["tw", "ctl", "beside"]  # the downloads beside the targets too
    assert afterwards.again is not None and afterwards.again.failure is None


@dataclass(frozen=True)
class SecondLook(KindFindings):
    """Says of each target how fast it was on a second look."""

    rates: dict[str, float]

    def note_for(self, target: TargetResult) -> Note | None:
        rate = self.rates.get(target.name)
        if rate is None:
            return None

        def attach(evidence: Evidence) -> None:
            # A real kind adds a field of its own to Evidence; this one borrows one.
            evidence.tcp_goodput_bytes_per_second = rate

        return Note(f"second look {rate:.0f} B/s", attach)

    def shown(self) -> Shown:
        rows = [(Cell(name), Cell(f"{rate:.0f}", Tone.ALARM)) for name, rate in self.rates.items()]
        return Shown("Second look", (Column("target"), Column("B/s", numeric=True)), rows, ["ok."])


class SecondLookJudge(KindJudge):
    name = "second_look"

    def judge(self, result: RoundResult, network: Network) -> SecondLook:
        return SecondLook({t.name: 42.0 for t in result.targets if t.role == Role.TARGET})


def test_a_kinds_findings_join_the_verdict_and_the_terminal_shows_them(lab: Lab) -> None:
    result = asyncio.run(measure_round(config_of(lab), kinds=[]))
    findings = SecondLookJudge().judge(result, Network.HEALTHY)

    verdicts = judge_round(result, [findings])
    judgement = judge_all(result)
    judgement.kinds[SecondLookJudge.name] = findings
    console = Console(record=True, width=120)
    render_round(console, result, judgement)

    assert verdicts["tw"].reason.endswith("; second look 42 B/s")
    assert verdicts["tw"].evidence.tcp_goodput_bytes_per_second == 42.0
    shown = console.export_text()
    assert "Second look" in shown and "42" in shown and "ok." in shown


def test_the_registry_lists_the_kinds_a_config_asks_for(lab: Lab) -> None:
    config = config_of(lab)

    assert [kind.name for kind in round_kinds(config)] == [
        "sni_swap",
        "address_check",
        "taint",
        "grey_zone",
        "freeze_followup",
        "ech",
        "quic",
    ]
    # The replay test runs only with a replay server and its secret.
    assert "replay" not in [kind.name for kind in round_kinds(config, replay_secret=b"s" * 32)]
