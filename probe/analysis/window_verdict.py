"""Verdicts over a window of rounds: Wehe's rule on the pooled throughput samples.

One round can be unlucky: a control that happened to crawl, a target caught
in a burst of cross traffic. Over several rounds the evidence adds up: the
throughput bins of a target from every round are pooled and compared with
the pooled bins of the controls, by the same rule as within a round (10x
slower than the controls' median of per-round slowest, AND Wehe's area and KS
tests agree). Failures and degraded networks are decided by the majority of
the rounds, so a single bad round neither raises nor hides an alarm.

Given the targets' ``history`` (analysis.history), a target the rule above
finds ``ok`` or ``inconclusive`` is ``throttled`` when its latest rounds show
a sustained drop against its own ratio to the controls (rule ``history``).
"""

import statistics
from collections import Counter
from collections.abc import Sequence

from probe.analysis import stats
from probe.analysis.compare import Network
from probe.analysis.evidence import HISTORY_METHOD, Evidence
from probe.analysis.history import TargetHistory, round_ratio, sustained_drop
from probe.analysis.target_verdict import (
    Controls,
    Verdict,
    mechanism_of,
    round_controls,
    throttled,
)
from probe.records import Mechanism, RoundResult, Rule, VerdictKind
from probe.units import format_rate


def judge_window(
    rounds: Sequence[RoundResult],
    verdicts: Sequence[dict[str, Verdict]],
    controls: Sequence[Controls] | None = None,
    history: TargetHistory | None = None,
) -> dict[str, Verdict]:
    """A verdict per target over ``rounds``, given each round's own ``verdicts``
    (and its ``controls``, when the caller has them: summarised once per round),
    and against each target's ``history`` of clean rounds when there is one."""
    controls = [round_controls(result) for result in rounds] if controls is None else controls
    names = list(dict.fromkeys(name for round_verdicts in verdicts for name in round_verdicts))
    window = {name: _judge(name, rounds, verdicts, controls) for name in names}
    if history is not None:
        for name, verdict in window.items():
            if verdict.verdict in (VerdictKind.OK, VerdictKind.INCONCLUSIVE):
                dropped = _against_history(name, rounds, verdicts, controls, history)
                window[name] = dropped or verdict
    return window


def _against_history(
    name: str,
    rounds: Sequence[RoundResult],
    verdicts: Sequence[dict[str, Verdict]],
    controls: Sequence[Controls],
    history: TargetHistory,
) -> Verdict | None:
    """``throttled`` by rule ``history`` when the latest rounds drop well below the baseline."""
    judged = [
        (result, mine[name], summary)
        for result, mine, summary in zip(rounds, verdicts, controls, strict=True)
        if name in mine
    ]
    recent = [
        (round_ratio(result, name) if summary.network == Network.HEALTHY else None, verdict.verdict)
        for result, verdict, summary in judged
    ]
    drop = sustained_drop(history.baseline(name), recent)
    if drop is None:
        return None
    result, _, latest_controls = judged[-1]
    target = next(t for t in result.targets if t.name == name)
    evidence = Evidence(method=HISTORY_METHOD, history=drop)
    mechanism, how = mechanism_of(target, latest_controls, evidence)
    rates = [
        rate
        for r, _, _ in judged[-len(drop.recent_ratios) :]
        for t in r.targets
        if t.name == name and (rate := t.goodput_bytes_per_second)
    ]
    rate = statistics.median(rates) if rates else None
    now = ", ".join(f"{ratio:.2f}" for ratio in drop.recent_ratios)
    reason = (
        f"{mechanism} against its own history: {drop.drop:.1f}x below its baseline "
        f"(its goodput over the controls' median: {drop.baseline_ratio:.2f} over "
        f"{drop.baseline_rounds} clean rounds, the lowest tenth {drop.baseline_low:.2f}; "
        f"now {now}); {how}"
    )
    return throttled(mechanism, rate, reason, evidence, Rule.HISTORY)


def _judge(
    name: str,
    rounds: Sequence[RoundResult],
    verdicts: Sequence[dict[str, Verdict]],
    controls: Sequence[Controls],
) -> Verdict:
    mine = [v[name] for v in verdicts if name in v]
    labels = Counter(v.verdict for v in mine)
    evidence = Evidence(
        method=f"window of {len(mine)} rounds: Wehe area+KS on pooled bins; OONI 10x",
        rounds=[v.verdict for v in mine],
    )
    majority = len(mine) // 2 + 1
    if labels[VerdictKind.DEGRADED] >= majority:
        reason = (
            f"degraded in {labels[VerdictKind.DEGRADED]} of {len(mine)} rounds: controls suffer too"
        )
        return Verdict(VerdictKind.DEGRADED, reason, evidence=evidence)
    if labels[VerdictKind.PLATFORM_REFUSED] >= majority:
        statuses = Counter(
            v.evidence.http_status for v in mine if v.verdict == VerdictKind.PLATFORM_REFUSED
        )
        status, count = statuses.most_common(1)[0]
        reason = f"the platform answered HTTP {status} in {count} of {len(mine)} rounds"
        return Verdict(
            VerdictKind.PLATFORM_REFUSED, reason, evidence=evidence, rule=Rule.PLATFORM_ANSWER
        )
    if labels[VerdictKind.BLOCKED] >= majority:
        blocked = [v for v in mine if v.verdict == VerdictKind.BLOCKED]
        stage, count = Counter(v.stage for v in blocked).most_common(1)[0]
        rule = Counter(v.rule for v in blocked if v.stage == stage).most_common(1)[0][0]
        reason = f"blocked at the {stage} stage in {count} of {len(mine)} rounds"
        return Verdict(VerdictKind.BLOCKED, reason, stage=stage, evidence=evidence, rule=rule)
    slow = [v for v in mine if v.verdict == VerdictKind.THROTTLED and v.evidence.slow_network]
    if len(slow) >= majority:
        return _throttled_on_a_slow_network(slow, len(mine), evidence)
    lossy = [v for v in mine if v.mechanism == Mechanism.LOSS]  # only a throttle has one
    if len(lossy) >= majority:
        return _throttled_by_loss(lossy, len(mine), evidence)
    left_out = [_explained(v.get(name)) for v in verdicts]
    kept = [(r, c) for r, c, gone in zip(rounds, controls, left_out, strict=True) if not gone]
    pooled = _pooled(name, [r for r, _ in kept], [c for _, c in kept])
    return _judge_throughput(pooled, mine, evidence)


def _throttled_on_a_slow_network(
    slow: Sequence[Verdict], rounds: int, evidence: Evidence
) -> Verdict:
    """Most rounds caught it on a slow network, where the pooled 10x test cannot reach."""
    mechanism = Counter(v.mechanism for v in slow).most_common(1)[0][0] or Mechanism.UNKNOWN
    rates = [v.rate_bytes_per_second for v in slow if v.rate_bytes_per_second is not None]
    rate = statistics.median(rates) if rates else None
    at = f" at ~{format_rate(rate)}" if rate is not None else ""
    evidence.slow_network = True
    return throttled(
        mechanism,
        rate,
        f"{mechanism}{at} on a slow network in {len(slow)} of {rounds} rounds",
        evidence,
    )


def _explained(verdict: Verdict | None) -> bool:
    """Whether the round explained the target's slowness by something else than the
    target, so that its download does not join the pooled test, where it would read slow:

    - ``degraded``: the controls suffered too (on a network losing 2% at random, one
      download in a hundred reads 10x slow by chance; two such rounds of three made
      the pooled test say throttled where each round had said degraded);
    - an ``ok`` that a solo download gave a round 10x slow: a chance stall.
    """
    if verdict is None:
        return False
    if verdict.verdict == VerdictKind.DEGRADED:
        return True
    if verdict.verdict != VerdictKind.OK or verdict.evidence.alone is None:
        return False
    ratio = verdict.evidence.ratio_to_slowest_control
    return ratio is not None and ratio >= stats.EXTREME_RATIO


def _throttled_by_loss(lossy: Sequence[Verdict], rounds: int, evidence: Evidence) -> Verdict:
    """Most rounds caught it losing packets of its own under 10x, where the pooled 10x
    test cannot reach."""
    rates = [v.rate_bytes_per_second for v in lossy if v.rate_bytes_per_second is not None]
    rate = statistics.median(rates) if rates else None
    at = f" at ~{format_rate(rate)}" if rate is not None else ""
    reason = f"loss{at}: packets of its own lost at random in {len(lossy)} of {rounds} rounds"
    return throttled(Mechanism.LOSS, rate, reason, evidence)


Pooled = tuple[list[float], list[float], list[float], list[float]]


def _judge_throughput(pooled: Pooled, mine: Sequence[Verdict], evidence: Evidence) -> Verdict:
    target_rates, target_bins, control_slowest, control_bins = pooled
    if not target_rates or not control_slowest:
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            "no round with both the target and a control",
            evidence=evidence,
        )
    rate = statistics.median(target_rates)
    controls = statistics.median(control_slowest)
    ratio = controls / rate if rate > 0 else float("inf")
    wehe = stats.wehe_test(target_bins, control_bins)
    evidence.goodput_bytes_per_second = rate
    evidence.slowest_control_bytes_per_second = controls
    evidence.ratio_to_slowest_control, evidence.wehe = ratio, wehe
    count = len(target_rates)
    measured = f"median {format_rate(rate)} over {count} round{'s' if count > 1 else ''}"
    if ratio < stats.EXTREME_RATIO:
        return Verdict(
            VerdictKind.OK, f"{measured}; controls {format_rate(controls)}", evidence=evidence
        )
    if wehe is None or wehe.decision != "differentiated":
        why = "too few samples" if wehe is None else f"Wehe's test is {wehe.decision}"
        reason = f"{measured}, {ratio:.0f}x below the controls, but {why}"
        return Verdict(VerdictKind.INCONCLUSIVE, reason, evidence=evidence)
    mechanisms = Counter(v.mechanism for v in mine if v.mechanism is not None)
    mechanism = mechanisms.most_common(1)[0][0] if mechanisms else Mechanism.UNKNOWN
    reason = (
        f"{mechanism} at ~{format_rate(rate)} ({measured}); controls {format_rate(controls)}; "
        f"Wehe on pooled samples: area {wehe.area:.0%}, KS p={wehe.p_value:.1g}"
    )
    return throttled(mechanism, rate, reason, evidence)


def _pooled(name: str, rounds: Sequence[RoundResult], summaries: Sequence[Controls]) -> Pooled:
    """The target's rates and bins, and the controls' slowest rates and bins, over rounds."""
    target_rates: list[float] = []
    target_bins: list[float] = []
    control_slowest: list[float] = []
    control_bins: list[float] = []
    for result, controls in zip(rounds, summaries, strict=True):
        target = next((t for t in result.targets if t.name == name), None)
        rate = None if target is None else target.goodput_bytes_per_second
        if target is None or target.transfer is None or rate is None or controls.slowest is None:
            continue
        target_rates.append(rate)
        target_bins += stats.throughput_bins(target.transfer.body_samples())
        control_slowest.append(controls.slowest)
        control_bins += controls.bins
    return target_rates, target_bins, control_slowest, control_bins
