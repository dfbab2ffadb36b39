"""The taint check judged: the swap's server after the platform names, against before."""

from probe.analysis.compare import Network
from probe.analysis.taint import TaintFindings, judge_taint
from probe.records import (
    SWAP_BASELINE,
    SWAP_GROUP,
    TAINT_CHECK,
    Comparison,
    Role,
    RoundResult,
    TargetResult,
)
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
