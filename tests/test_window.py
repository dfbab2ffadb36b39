"""Verdicts over a window of recorded lab rounds (no network)."""

import json
from pathlib import Path

from probe.analysis.evidence import Evidence
from probe.analysis.target_verdict import Verdict, judge_round, throttled
from probe.analysis.window_verdict import judge_window
from probe.records import Mechanism, RoundResult, VerdictKind
from probe.schema import decode_round

DATA = Path(__file__).parent / "data"


def recorded(scenario: str) -> RoundResult:
    return decode_round(json.loads((DATA / f"lab-{scenario}.json").read_text())).result()


def window(*scenarios: str) -> dict[str, tuple[str, str | None]]:
    rounds = [recorded(scenario) for scenario in scenarios]
    verdicts = judge_window(rounds, [judge_round(r) for r in rounds])
    return {name: (v.verdict, v.mechanism or v.stage) for name, v in verdicts.items()}


def test_policing_in_every_round_is_throttled_on_the_pooled_samples() -> None:
    rounds = [recorded("sni-police"), recorded("sni-police-congested"), recorded("sni-police")]

    verdicts = judge_window(rounds, [judge_round(r) for r in rounds])

    pbs = verdicts["pbs-twimg-com"]
    assert (pbs.verdict, pbs.mechanism) == ("throttled", "policing")
    assert pbs.rate_bytes_per_second is not None
    assert 100 < pbs.rate_bytes_per_second * 8 / 1000 < 180  # kbit/s
    assert pbs.evidence.wehe is not None and pbs.evidence.wehe.decision == "differentiated"
    assert pbs.evidence.rounds == ["throttled", "throttled", "throttled"]
    assert verdicts["x-com"].verdict == "ok"


def test_one_slow_round_among_clean_ones_raises_no_alarm() -> None:
    got = window("sni-police", "clean", "clean")

    assert got["pbs-twimg-com"] == ("ok", None)


def test_the_majority_decides_degraded_and_blocked() -> None:
    assert set(window("congested", "congested", "clean").values()) == {("degraded", None)}
    lying = "lying-resolver-checked"  # with the address check: a DNS block on evidence
    assert set(window(lying, "clean", lying).values()) == {("blocked", "dns")}


def test_one_congested_round_does_not_make_the_window_degraded() -> None:
    got = window("congested", "clean", "clean")

    assert set(got.values()) == {("ok", None)}


def test_most_rounds_throttled_by_loss_make_the_window_throttled_by_loss() -> None:
    """Under 10x the pooled test cannot reach it; the rounds' own rule did."""
    lossy = throttled(Mechanism.LOSS, 6e5, "loss", Evidence())
    fine = Verdict(VerdictKind.OK, "fine")
    rounds = [recorded("clean")] * 3

    verdicts = judge_window(rounds, [{"x-com": v} for v in (lossy, fine, lossy)])

    window = verdicts["x-com"]
    assert (window.verdict, window.mechanism) == ("throttled", "loss")
    assert window.rate_bytes_per_second == 6e5 and "in 2 of 3 rounds" in window.reason


def test_a_round_that_called_a_slow_download_degraded_does_not_join_the_pooled_test() -> None:
    """On a network losing packets at random, a round in a hundred reads a target 10x slow
    by chance and calls it degraded (the controls lose packets too). With a round that
    read it 10x slow but inconclusive, the pooled test must not add them up to throttled."""
    rounds = [recorded("sni-police"), recorded("sni-police"), recorded("clean")]
    verdicts = [judge_round(r) for r in rounds]
    slow = verdicts[0]["pbs-twimg-com"].evidence
    verdicts[0]["pbs-twimg-com"] = Verdict(
        VerdictKind.DEGRADED, "the controls lose too", evidence=slow
    )
    verdicts[1]["pbs-twimg-com"] = Verdict(
        VerdictKind.INCONCLUSIVE, "too few samples", evidence=slow
    )

    pbs = judge_window(rounds, verdicts)["pbs-twimg-com"]

    assert pbs.verdict == "ok", pbs.reason
    assert pbs.evidence.rounds == ["degraded", "inconclusive", "ok"]
    # The same rounds with the first one inconclusive too: their downloads add up.
    verdicts[0]["pbs-twimg-com"] = verdicts[1]["pbs-twimg-com"]
    assert judge_window(rounds, verdicts)["pbs-twimg-com"].verdict == "throttled"
