"""The report in plain words: the sentences a reader sees first."""

from probe.analysis.evidence import Evidence
from probe.analysis.target_verdict import Verdict
from probe.evidence.episodes import Episode
from probe.evidence.state_episodes import NETWORK, StateEpisode
from probe.evidence.story import human_period, summary_paragraph
from probe.records import Mechanism, Rule, Stage, VerdictKind

START, END = "2026-03-10T06:15:00.000+00:00", "2026-03-10T07:30:40+00:00"


def episode(
    target: str,
    verdict: VerdictKind,
    detail: Mechanism | Stage | None = None,
    rate: float | None = None,
    rule: Rule = Rule.CONTROLS,
) -> Episode:
    found = Episode(target, "twitter", verdict, detail, START, END, rounds=3)
    found.rates = [rate] if rate else []
    found.controls = [12.5e6]
    found.representative = Verdict(verdict, "the reason", evidence=Evidence(), rule=rule)
    return found


def test_throttled_names_of_one_period_make_one_sentence() -> None:
    said = summary_paragraph(
        [
            episode("pbs", VerdictKind.THROTTLED, Mechanism.POLICING, 15_250),
            episode("abs", VerdictKind.THROTTLED, Mechanism.POLICING, 16_500),
            episode("x", VerdictKind.OK),
        ],
        [],
    )

    assert said == (
        "pbs and abs (twitter) were throttled (policing) to about 122-132 kbit/s from 06:15 "
        "to 07:30 UTC on 10 March 2026, while the controls got 100 Mbit/s."
    )


def test_blocks_freezes_and_shutdowns_are_each_said_their_own_way() -> None:
    said = summary_paragraph(
        [
            episode("tiktok", VerdictKind.BLOCKED, Stage.TLS),
            episode("cdn", VerdictKind.BLOCKED, Stage.FREEZE),
            episode("all", VerdictKind.BLOCKED, Stage.TLS, rule=Rule.SHUTDOWN),
        ],
        [StateEpisode(NETWORK, "domestic_only", START, END, 3)],
    )

    assert said.startswith("The network was cut off from abroad (only domestic services")
    assert "tiktok (twitter) was blocked at the TLS handshake from 06:15" in said
    assert "cdn (twitter): connections froze after a few kilobytes" in said
    assert "all (twitter) was unreachable from 06:15 to 07:30 UTC on 10 March 2026: only " in said


def test_a_quiet_period_says_so() -> None:
    said = summary_paragraph(
        [episode("x", VerdictKind.OK)], [StateEpisode(NETWORK, "healthy", START, END)]
    )

    assert said.startswith("No target was throttled or blocked in this period")


def test_a_period_says_its_days_and_a_single_round_its_moment() -> None:
    assert human_period("2026-03-10T23:50:00+00:00", "2026-03-11T00:20:00+00:00") == (
        "from 10 March 2026, 23:50 to 11 March 2026, 00:20 UTC"
    )
    assert human_period("2026-03-10T07:15:00+00:00", "2026-03-10T07:15:40+00:00") == (
        "at 07:15 UTC on 10 March 2026"
    )
