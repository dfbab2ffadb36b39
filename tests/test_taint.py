"""The taint check judged: the swap's server after the platform names, against before."""

from probe.analysis.compare import Network
from probe.analysis.round_judgement import judge_all
from probe.analysis.taint import TaintFindings, TaintJudge, duration_text, judge_taint
from probe.config import parse_config
from probe.records import (
    SWAP_BASELINE,
    SWAP_GROUP,
    TAINT_CHECK,
    Comparison,
    Role,
    RoundResult,
    TaintRetest,
    TaintRetests,
    TargetResult,
)
from probe.schema import decode_round, encode, round_document
from tests.test_verdict import download

FAST = 5e6


def swap(name: str, rate: float, sni: str) -> TargetResult:
    entry = download(name, "sni_swap", rate)
    entry.group = SWAP_GROUP
    assert entry.transfer is not None
    entry.transfer.sni = sni
    return entry


def round_with(after_rate: float) -> RoundResult:
    baseline = swap(SWAP_BASELINE, FAST, "neutral.example")
    named = swap("swap-pbs-twimg-com", FAST, "pbs.twimg.com")
    target = download("pbs", "target", FAST)
    target.url = "https://pbs.twimg.com/banner"
    result = RoundResult("", "", False, [target, baseline, named])
    result.taint = swap(TAINT_CHECK, after_rate, "neutral.example")
    return result


def test_an_address_slowed_after_the_names_is_tainted_and_the_names_hear_of_it() -> None:
    result = round_with(FAST / 40)

    outcome = judge_taint(result, Network.HEALTHY)

    assert outcome is not None and outcome.state == Comparison.SLOWED and outcome.tainted
    assert outcome.names == ["pbs.twimg.com"]
    findings = TaintFindings(outcome)
    note = findings.note_for(result.targets[0])
    assert note is not None and "the address is tainted" in note.clause
    assert [s.samples for s in findings.series()] == [[((), 1.0)]]


def test_an_address_as_fast_after_as_before_is_not_tainted() -> None:
    result = round_with(FAST)

    outcome = judge_taint(result, Network.HEALTHY)

    assert outcome is not None and outcome.state == Comparison.SAME and not outcome.tainted
    findings = TaintFindings(outcome)
    assert findings.note_for(result.targets[0]) is None
    assert [s.samples for s in findings.series()] == [[((), 0.0)]]


def test_without_the_check_there_is_no_outcome() -> None:
    result = round_with(FAST)
    result.taint = None

    assert judge_taint(result, Network.HEALTHY) is None
    assert result.targets[1].role == Role.SNI_SWAP


def retested(*rates: float) -> RoundResult:
    """The next round, carrying re-tests of the address tainted in round "r1" at 60 s,
    300 s, ... with the given rates (before: FAST)."""
    result = round_with(FAST)
    after = [60.0, 300.0, 600.0]
    retests = [
        TaintRetest(seconds, swap(TAINT_CHECK, rate, "neutral.example"))
        for seconds, rate in zip(after, rates, strict=False)
    ]
    result.taint_retests = TaintRetests("r1", swap(SWAP_BASELINE, FAST, "neutral"), retests)
    return result


def test_the_retests_say_how_long_the_address_stayed_slowed() -> None:
    result = retested(FAST / 40, FAST / 40, FAST)

    findings = TaintJudge().judge(result, Network.HEALTHY)

    duration = findings.duration
    assert duration is not None
    assert [r.state for r in duration.retests] == ["slowed", "slowed", "same"]
    assert (duration.tainted_for_seconds, duration.cleared_after_seconds) == (300.0, 600.0)
    assert duration_text(duration) == (
        "the address was still slowed 1 min and 5 min after round r1; clean by 10 min"
    )
    assert {s.name: s.samples for s in findings.series()}["address_tainted_for_seconds"] == [
        ((), 300.0)
    ]
    shown = findings.shown()
    assert shown is not None and [row[1].text for row in shown.rows] == [
        "1 min after",
        "5 min after",
        "10 min after",
        "this round",
    ]


def test_an_address_clean_at_the_first_retest_was_tainted_for_no_time_measured() -> None:
    duration = TaintJudge().judge(retested(FAST), Network.HEALTHY).duration

    assert duration is not None and duration.tainted_for_seconds == 0.0
    assert duration_text(duration) == "the address tainted after round r1 was clean by 1 min"


def test_the_retests_go_into_the_document_and_read_back() -> None:
    result = retested(FAST / 40, FAST / 40)
    result.round_id = "r2"
    config = parse_config(
        "groups: {g: {role: target, targets: [{name: t, url: 'https://t/'}]}}", "-"
    )
    judgement = judge_all(result)

    document = decode_round(encode(round_document(result, config, "", judgement)))

    assert document.taint_duration is not None
    assert document.taint_duration.tainted_for_seconds == 300.0  # still slowed at the last
    assert document.taint_duration.cleared_after_seconds is None
    assert document.result().taint_retests == result.taint_retests
    before = result.bytes_transferred
    for retest in result.taint_retests.retests if result.taint_retests else []:
        assert retest.result.transfer is not None
        retest.result.transfer.bytes = 1000
    assert result.bytes_transferred == before + 2000  # what the budget counts
