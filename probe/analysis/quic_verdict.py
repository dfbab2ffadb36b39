"""Verdicts over QUIC: each target against the controls' QUIC, and against its own TCP.

A target's QUIC download is judged by the same rules as its TCP one, against
the controls measured over QUIC in the same round (``RoundResult.on_transport``),
so a throttle that acts on QUIC alone is caught as on TCP: 10x slower than the
controls' QUIC with Wehe agreeing, or held below its own QUIC history.

Then one rule that only two transports allow. QUIC failing where TCP to the
same name worked is ``blocked`` at stage ``quic``, even when the controls'
QUIC failed too: Russia has dropped QUIC Initials to foreign servers since
March 2022 while domestic ones pass, and a network that drops every QUIC
handshake while TCP flows is blocking QUIC, not degraded; TCP to the same
name is the evidence that the path is up. The reason says how many controls
failed over QUIC too, and which passed (a domestic one, typically).
"""

import dataclasses
from collections.abc import Sequence

from probe.analysis.stages import STAGE_OF_FAILURE
from probe.analysis.target_verdict import Controls, Verdict, judge_round, round_controls
from probe.records import Failure, Role, RoundResult, Stage, TargetResult, Transport, VerdictKind
from probe.units import format_rate

# Failures that are an answer, not a block: the platform's own status, or a body
# smaller than expected; and a stop by the user.
_ANSWERS = (Failure.HTTP_STATUS, Failure.HTTP_TOO_SMALL, Failure.INTERRUPTED)


def judge_quic(result: RoundResult) -> tuple[dict[str, Verdict], Controls]:
    """A verdict for every target measured over QUIC, and what the QUIC controls say."""
    over_quic = result.on_transport(Transport.QUIC)
    controls = round_controls(over_quic)
    verdicts = judge_round(over_quic, kinds=[], controls=controls)
    over_tcp = {t.name: t for t in result.targets if t.role == Role.TARGET}
    quic_controls = [t for t in over_quic.targets if t.role == Role.CONTROL]
    for target in (t for t in over_quic.targets if t.role == Role.TARGET):
        tcp = over_tcp.get(target.name)
        if _fails_where_tcp_works(target, tcp):
            assert tcp is not None
            verdicts[target.name] = _blocked_on_quic(
                target, tcp, quic_controls, verdicts[target.name]
            )
    return verdicts, controls


def quic_blocked_wholesale(result: RoundResult) -> bool | None:
    """Whether the network blocks QUIC as such: most controls measured over QUIC failed
    while TCP to the same controls worked (None: no control went over QUIC).

    One fact for the whole network, so that it raises one alarm rather than one
    per target (Russia's 2022 rule drops QUIC to every foreign server).
    """
    over_tcp = {t.name: t for t in result.targets if t.role == Role.CONTROL}
    controls = [t for t in result.quic if t.role == Role.CONTROL]
    if not controls:
        return None
    failed = [c for c in controls if _fails_where_tcp_works(c, over_tcp.get(c.name))]
    return len(failed) * 2 > len(controls)


def _fails_where_tcp_works(quic: TargetResult, tcp: TargetResult | None) -> bool:
    failed = quic.failure is not None and quic.failure not in _ANSWERS
    return failed and tcp is not None and tcp.failure is None and tcp.transfer is not None


def _blocked_on_quic(
    target: TargetResult, tcp: TargetResult, controls: Sequence[TargetResult], judged: Verdict
) -> Verdict:
    failure = target.failure
    assert failure is not None
    stage = STAGE_OF_FAILURE.get(failure, Stage.QUIC)
    if stage in (Stage.TCP, Stage.HTTP):  # network_unreachable, an HTTP/3 error, a time-out
        stage = Stage.QUIC
    passed = [c.name for c in controls if c.failure is None]
    failed = [c.name for c in controls if c.failure is not None]
    evidence = dataclasses.replace(
        judged.evidence,
        tcp_goodput_bytes_per_second=tcp.goodput_bytes_per_second,
        controls_failed_over_quic=failed,
        controls_passed_over_quic=passed,
        quic_close=None if target.transfer is None else target.transfer.quic_close,
    )
    reason = (
        f"{failure} over QUIC while TCP to the same name worked "
        f"({format_rate(tcp.goodput_bytes_per_second)}); {_controls_clause(passed, failed)}"
    )
    return Verdict(VerdictKind.BLOCKED, reason, stage=stage, evidence=evidence)


def _controls_clause(passed: Sequence[str], failed: Sequence[str]) -> str:
    total = len(passed) + len(failed)
    if total == 0:
        return "no control was measured over QUIC"
    if not failed:
        return "the controls' QUIC worked"
    clause = f"{len(failed)} of {total} controls failed over QUIC too"
    return clause + (f" (passed: {', '.join(passed)})" if passed else "")


def cross_transport(result: RoundResult, tcp: dict[str, Verdict], quic: dict[str, Verdict]) -> None:
    """A target throttled or blocked on one transport and fine on the other says so,
    in both reasons: the equipment acts on one protocol only."""
    rates = {
        (entry.transport, entry.name): entry.goodput_bytes_per_second
        for entry in [*result.targets, *result.quic]
    }
    for name in tcp.keys() & quic.keys():
        over_tcp, over_quic = tcp[name], quic[name]
        if _slowed(over_tcp) and over_quic.verdict == VerdictKind.OK:
            fine = format_rate(rates.get((Transport.QUIC, name)))
            over_tcp.reason += f"; over QUIC it is fine ({fine})"
            over_quic.reason += f"; over TCP it is {over_tcp.label}"
        elif _slowed(over_quic) and over_tcp.verdict == VerdictKind.OK:
            fine = format_rate(rates.get((Transport.TCP, name)))
            over_quic.reason += f"; over TCP it is fine ({fine})"
            over_tcp.reason += f"; over QUIC it is {over_quic.label}"


def _slowed(verdict: Verdict) -> bool:
    return verdict.verdict in (VerdictKind.THROTTLED, VerdictKind.BLOCKED)
