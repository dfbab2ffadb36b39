"""Verdicts: is a target throttled, blocked, or is the whole network just slow?

Every verdict rests on the controls measured in the same round, under the
same conditions, and carries the figures it was computed from:

* only domestic services answering (``analysis.shutdown``) makes every foreign
  target ``blocked`` at its stage by rule ``shutdown``;
* a failure is ``blocked`` at its stage (dns, tcp, tls, http, stall, freeze:
  ``measure.freeze``) when the controls were fine, ``degraded`` when the
  controls fail or crawl too;
* an HTTP status of 300 or more is ``platform_refused``: it came over a TLS
  session whose certificate was verified, so the platform's own server sent
  it (a page moved, a country refused, an outage), not the network;
* DNS tampering is ``blocked`` at stage dns: the system resolver fails for the
  target while it answers for the controls, or answers addresses no other
  resolver gives that are bogons, or that fail the name's certificate or
  refuse HTTPS while another resolver's address serves it (the address
  check); resolvers that merely disagree leave the failure to its own stage;
* a download 10x or more slower than every healthy control (OONI's "extreme"
  throttling; against the slowest control, because unrelated servers differ
  in speed) is suspect; it is ``throttled`` when Wehe's test on the two
  throughput distributions agrees (area between the CDFs >= 50%, or 30% above
  10 Mbit/s, AND a two-sample KS test with p < 0.01), ``inconclusive`` when
  it does not; one that swung and lost no more than the controls is measured
  alone first (a chance stall reads fine alone);
* under 10x, a target losing packets of its own at random (``measure.loss``),
  1.5x or more below the slowest control, is ``throttled`` by ``loss`` when
  Wehe's test agrees (the July 2024 YouTube pattern);
* the network is ``degraded`` when the controls fail, crawl (median below
  1 Mbit/s) or lose packets at random (over 2% of their segments out of
  order, with no queue to explain it): then a slow target says nothing about
  it, unless it shows a throttle's signature that random loss cannot make:
  a queue of its own (in-band RTT inflated while the controls' is not) or
  a rate held flat for the plateau window (loss makes a download stall and
  burst, it does not hold it at one low rate);
* on a slow network (the controls' median below 1 Mbit/s, where the 2021
  throttling was felt most: mobile networks) a target is still ``throttled``
  when its rate was held flat at least 2.5x below the controls' median of the
  same round, with losses (a policer) or a queue of its own (a shaper),
  Wehe's test agrees, and it stays 2.5x below when it and the control are
  measured again one at a time: congestion can starve one flow of a shared
  link, but not one that has the link to itself;
* the mechanism follows Flach et al.: in-band RTT inflated (a queue) means
  ``shaping``; loss without inflation means ``policing``; neither, ``unknown``.
  When the controls' RTT is inflated too, the queue is the network's and
  only the loss is read.
"""

import ipaddress
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field

from probe.analysis import stats
from probe.analysis.compare import Network
from probe.analysis.evidence import ControlFigures, Evidence, TargetFigures
from probe.analysis.freeze import freeze_text
from probe.analysis.kind import KindFindings
from probe.analysis.registry import round_judges
from probe.analysis.shutdown import DomesticOnly, domestic_only
from probe.analysis.stages import stage_of
from probe.measure.freeze import freeze_point
from probe.measure.loss import (
    LOSS_SLOWDOWN,
    RANDOM_LOSS_SHARE,
    loses_on_its_own,
    loss_density,
    loss_events,
    loss_ratio,
    no_loss_of_its_own,
)
from probe.records import (
    REDIRECT_STATUSES,
    DnsRecord,
    Failure,
    Mechanism,
    Role,
    RoundResult,
    Rule,
    SoloPair,
    Stage,
    StopReason,
    TargetResult,
    TransferRecord,
    VerdictKind,
)
from probe.units import format_rate

SLOW_NETWORK = 1e6 / 8  # controls slower than 1 Mbit/s (median): the network is degraded
# Controls with over 2% of their segments (pooled) out of order and no queue:
# random loss. The client sees loss only as segments arriving after a hole.
# In the lab (bench/lab_accuracy.py prints it per scenario) clean links stay
# below 0.1%, the router's htb drops up to ~2% at multi-Gbit rates, and 2%
# random loss gives about 5-13%: one hole puts every segment in flight behind
# it out of order. One control's share swings widely under
# the same loss (3.8% to 12.5% within the round in
# tests/data/lab-loss-stalls.json), so the controls are pooled.
LOSSY_NETWORK = RANDOM_LOSS_SHARE
# On a slow network a throttled target is held flat at least this many times
# below the controls' median of the same round, and below the slowest control
# when both are measured alone. A 150 kbit/s policer on a 3 Mbit/s link shared
# by eight downloads leaves the others about 3x more each (3.1-3.4x in the
# lab), and alone about 20x more; a flow that congestion starved gets as much
# as the control once alone.
SLOW_LINK_RATIO = 2.5
MIN_QUEUE_PROBES = 5  # in-band RTT probes (about one a second) to show a queue despite loss
# Past 10x, a download with no loss of its own (under OWN_LOSS_RATIO times the
# controls' share, measure.loss) whose rate swung (the coefficient of variation
# of its throughput bins above this; a policer's read 0.46-0.59 in the lab, its
# TLS records arriving one a second) is measured alone before it is called
# anything: on a fast lossy link a retransmission time-out or two makes one
# short download 100x slower by chance.
UNSTEADY_CV = 0.8

# The resolver gave no answer at all: what a congested link does to a query too.
_UNANSWERED = (Failure.DNS_TIMEOUT, Failure.DNS_UNAVAILABLE)
# Nothing arrived in time: what a network that drops packets does by itself too.
_TIMED_OUT = (Failure.TCP_TIMEOUT, Failure.TLS_TIMEOUT, Failure.READ_TIMEOUT, Failure.STALL)
# A control's TCP connect or TLS handshake that took longer than Linux's first
# retransmission time-out (1 s), and longer than three of the path's round
# trips (a TLS 1.2 handshake over a satellite needs two), lost a packet and
# sent it again: the network drops set-up packets, so a target's time-out in
# the same round is no evidence of a block. On the lab's congested 2 Mbit/s
# link a control's handshake took 2.6 s in the round where two targets timed
# out (tests/data/lab-congested-timeouts.json).
RETRANSMITTED_SETUP = 1.0
SETUP_ROUND_TRIPS = 3


@dataclass
class Verdict:
    """What a target's measurements say, with the evidence it rests on."""

    verdict: VerdictKind
    reason: str
    mechanism: Mechanism | None = None  # throttled only
    rate_bytes_per_second: float | None = None  # throttled: the estimated rate
    stage: Stage | None = None  # blocked only
    evidence: Evidence = field(default_factory=Evidence)
    rule: Rule = Rule.CONTROLS  # the kind of evidence that decided it

    @property
    def label(self) -> str:
        """``throttled/policing``, ``blocked/tls``, ``ok``: the verdict in one word."""
        return label_of(self.verdict, self.mechanism or self.stage)


def throttled(
    mechanism: Mechanism,
    rate: float | None,
    reason: str,
    evidence: Evidence,
    rule: Rule = Rule.CONTROLS,
) -> Verdict:
    """A ``throttled`` verdict: the mechanism, the rate it was held to, and why."""
    return Verdict(
        VerdictKind.THROTTLED,
        reason,
        mechanism=mechanism,
        rate_bytes_per_second=rate,
        evidence=evidence,
        rule=rule,
    )


def label_of(verdict: str, detail: str | None) -> str:
    """A verdict and its mechanism or stage in one word, as tables and reports show it."""
    return str(verdict) + (f"/{detail}" if detail else "")


@dataclass
class Controls:
    """What the controls of a round say about the network as a whole."""

    rates: dict[str, float]  # healthy controls: name -> goodput
    failures: dict[str, str]  # failed controls: name -> failure
    bins: list[float]  # their pooled throughput bins
    queueing: bool  # their in-band RTT was inflated: the network queues
    loss_density: float | None  # out-of-order segments per segment, pooled
    system_dns_ok: bool  # the system resolver answered for them
    lost_lookups: int = 0  # their DNS queries that went unanswered: the network loses them
    slowest_setup: float | None = None  # their longest TCP connect or TLS handshake (s)
    fastest_connect: float | None = None  # their quickest TCP connect: the path's round trip
    # their standing queue (receiver_rtt_inflation), median: the queue every flow shares
    receiver_rtt_inflation: float | None = None

    @property
    def setup_retransmitted(self) -> bool:
        """One of them needed a retransmission to set up: the network drops packets."""
        if self.slowest_setup is None:
            return False
        round_trips = SETUP_ROUND_TRIPS * (self.fastest_connect or 0.0)
        return self.slowest_setup > max(RETRANSMITTED_SETUP, round_trips)

    @property
    def lossy(self) -> bool:
        """They lost packets without a queue to explain it: random loss."""
        density = self.loss_density
        return not self.queueing and density is not None and density > LOSSY_NETWORK

    @property
    def median(self) -> float | None:
        return statistics.median(self.rates.values()) if self.rates else None

    def degraded_reason(self) -> str | None:
        total = len(self.rates) + len(self.failures)
        if total == 0:
            return None
        if self.mostly_failed:
            return f"{len(self.failures)} of {total} controls failed too"
        if self.slow:
            return f"controls are slow too (median {format_rate(self.median or 0)})"
        return None

    @property
    def mostly_failed(self) -> bool:
        return len(self.failures) * 2 > len(self.rates) + len(self.failures)

    @property
    def slow(self) -> bool:
        """The controls crawl: a slow or congested link (a mobile network, often)."""
        median = self.median
        return median is not None and median < SLOW_NETWORK

    @property
    def network(self) -> Network:
        if self.degraded_reason() is not None:
            return Network.DEGRADED
        return Network.LOSSY if self.lossy else Network.HEALTHY

    def figures(self) -> ControlFigures:
        return ControlFigures(
            goodput_bytes_per_second=self.rates,
            failures=self.failures,
            median_bytes_per_second=self.median,
            rtt_inflated=self.queueing,
            out_of_order_share=self.loss_density,
            random_loss=self.lossy,
            unanswered_lookups=self.lost_lookups,
            slowest_setup_seconds=self.slowest_setup,
        )

    @property
    def slowest(self) -> float | None:
        return min(self.rates.values()) if self.rates else None


def judge_round(
    result: RoundResult,
    kinds: Sequence[KindFindings] | None = None,
    controls: "Controls | None" = None,
) -> dict[str, Verdict]:
    """A verdict for every target (role ``target``) of the round, by name.

    What the round's other kinds of measurement found about a target's name
    (``kinds``: their findings; by default every kind of ``analysis.registry``
    judged here) joins its reason and its evidence, in the registry's order.
    ``controls``: the round's, if the caller has summarised them already.
    """
    controls = round_controls(result) if controls is None else controls
    if kinds is None:
        kinds = [judge.judge(result, controls.network) for judge in round_judges()]
    verdicts = {}
    shutdown = domestic_only(result.targets)
    for target in (t for t in result.targets if t.role == Role.TARGET):
        verdict = judge(target, controls, result.alone(target.name), shutdown)
        for findings in kinds:
            note = findings.note_for(target)
            if note is not None:
                note.attach(verdict.evidence)
                verdict.reason += f"; {note.clause}"
        verdicts[target.name] = verdict
    return verdicts


def _solo_ratio(pair: SoloPair | None) -> float | None:
    """The slowest control's goodput over the target's, when each was measured alone."""
    if pair is None:
        return None
    target, control = pair.target.goodput_bytes_per_second, pair.control.goodput_bytes_per_second
    return control / target if target and control else None


def round_controls(result: RoundResult) -> Controls:
    """What the controls (role ``control``) of ``result`` say about the network."""
    return summarise_controls([t for t in result.targets if t.role == Role.CONTROL])


def summarise_controls(entries: Sequence[TargetResult]) -> Controls:
    rates, failures, bins, inflation, tcp_info = {}, {}, [], [], []
    for entry in entries:
        transfer = entry.transfer
        if entry.failure is not None or entry.goodput_bytes_per_second is None:
            failures[entry.name] = str(entry.failure or "no data")
            continue
        rates[entry.name] = entry.goodput_bytes_per_second
        if transfer is not None:
            bins += stats.throughput_bins(transfer.body_samples())
            share = stats.rtt_inflated_share(transfer.rtt_probes, transfer.round_trip())
            if share is not None:
                inflation.append(share)
            tcp_info.append(transfer.tcp_info)
    queueing = bool(inflation) and statistics.median(inflation) > stats.RTT_INFLATED_SHARE
    density = loss_density(tcp_info)
    system_ok = any(_system_answers(entry.dns) for entry in entries)
    lost = sum(1 for entry in entries for r in entry.dns if r.failure in _UNANSWERED)
    setups = [d for entry in entries for d in _setup_durations(entry.transfer)]
    connects = [d for e in entries if e.transfer and (d := e.transfer.duration("connect"))]
    inflations = [i for e in entries if e.transfer and (i := receiver_rtt_inflation(e.transfer))]
    return Controls(
        rates,
        failures,
        bins,
        queueing,
        density,
        system_ok,
        lost,
        slowest_setup=max(setups, default=None),
        fastest_connect=min(connects, default=None),
        receiver_rtt_inflation=statistics.median(inflations) if inflations else None,
    )


def _setup_durations(transfer: TransferRecord | None) -> list[float]:
    """How long its connect and TLS handshake took, or waited before they timed out."""
    if transfer is None:
        return []
    phases = (transfer.phase(name) for name in ("connect", "tls"))
    return [p.t - p.t0 for p in phases if p is not None and p.t is not None]


def judge(
    target: TargetResult,
    controls: Controls,
    alone: SoloPair | None = None,
    shutdown: DomesticOnly | None = None,
) -> Verdict:
    """The verdict for one target, against the round's controls (and ``alone``, the
    round's solo downloads of it and the slowest control, if it was in the grey zone;
    ``shutdown``, if only domestic services answered in the round)."""
    if target.failure == Failure.INTERRUPTED:
        return Verdict(
            VerdictKind.INCONCLUSIVE, "the round was interrupted", evidence=_base(target, controls)
        )
    if shutdown is not None and not target.domestic:
        return Verdict(
            VerdictKind.BLOCKED,
            shutdown.reason(target),
            stage=stage_of(target),
            evidence=_base(target, controls),
            rule=Rule.SHUTDOWN,
        )
    tampering = _dns_tampering(target, controls)
    if tampering is not None:
        return tampering
    if target.failure is not None:
        return _judge_failure(target, target.failure, controls)
    degraded = controls.degraded_reason()
    if degraded is not None and controls.slow and not controls.mostly_failed:
        return _judge_on_slow_network(target, controls, degraded, alone)
    if degraded is not None:
        return Verdict(VerdictKind.DEGRADED, degraded, evidence=_base(target, controls))
    return _judge_throughput(target, controls, alone)


def _judge_failure(target: TargetResult, failure: Failure, controls: Controls) -> Verdict:
    stage = stage_of(target) or Stage.HTTP
    evidence = _base(target, controls)
    froze = freeze_point(target.transfer)
    if froze is not None:
        evidence.froze_after_bytes, evidence.freeze = froze.body_bytes, froze
    transfer = target.transfer
    if failure == Failure.HTTP_STATUS and transfer is not None and transfer.status is not None:
        # Every transfer verifies the certificate (only the SNI swap does not, and
        # it is judged on its own): no device on the path can forge this answer.
        evidence.http_status = transfer.status
        last_hop = transfer.redirects[-1] if transfer.redirects else None
        moved = last_hop.location if last_hop and transfer.status in REDIRECT_STATUSES else None
        answer = f"HTTP {transfer.status}" + (f" to {moved}" if moved else "")
        reason = f"the platform's own server answered {answer} over verified TLS: its decision"
        return Verdict(
            VerdictKind.PLATFORM_REFUSED, reason, evidence=evidence, rule=Rule.PLATFORM_ANSWER
        )
    if not controls.rates and not controls.failures:
        # Without a control, a failure cannot be told from a network that is down.
        reason = f"{failure} at the {stage} stage, but no control was measured to compare with"
        return Verdict(VerdictKind.INCONCLUSIVE, reason, evidence=evidence)
    degraded = controls.degraded_reason()
    if degraded is not None:
        return Verdict(VerdictKind.DEGRADED, f"{failure}, but {degraded}", evidence=evidence)
    if failure in _UNANSWERED and controls.lost_lookups:
        lost = controls.lost_lookups
        reason = f"{failure}, but {lost} of the controls' DNS queries went unanswered too"
        return Verdict(VerdictKind.DEGRADED, reason, evidence=evidence)
    if failure in _TIMED_OUT and controls.setup_retransmitted:
        waited = controls.slowest_setup or 0.0
        reason = (
            f"{failure}, but a control's own connection set-up took {waited:.1f} s: "
            "the network drops packets"
        )
        return Verdict(VerdictKind.DEGRADED, reason, evidence=evidence)
    what = f"{failure} at the {stage} stage" if froze is None else freeze_text(froze)
    return Verdict(
        VerdictKind.BLOCKED,
        f"{what}; controls fine ({_controls_text(controls)})",
        stage=stage,
        evidence=evidence,
    )


def _judge_throughput(
    target: TargetResult, controls: Controls, alone: SoloPair | None = None
) -> Verdict:
    transfer = target.transfer
    rate = target.goodput_bytes_per_second
    evidence = _base(target, controls)
    slowest = controls.slowest
    if transfer is None or rate is None or slowest is None:
        return Verdict(VerdictKind.INCONCLUSIVE, "no control to compare with", evidence=evidence)
    ratio = slowest / rate if rate > 0 else float("inf")
    evidence.ratio_to_slowest_control = ratio
    own_loss = _own_loss(transfer, controls, evidence)
    if ratio < stats.EXTREME_RATIO:
        lossy = _judge_own_random_loss(target, controls, ratio, evidence)
        if lossy is not None:
            return lossy
        return Verdict(
            VerdictKind.OK,
            f"{format_rate(rate)}; controls {_controls_text(controls)}",
            evidence=evidence,
        )
    signs = _throttle_signs(transfer, controls)
    if controls.lossy and not signs.beyond_random_loss:
        return Verdict(
            VerdictKind.DEGRADED,
            f"{ratio:.0f}x slower than the controls, but they lose packets at random too, "
            "and it shows neither a queue of its own nor a rate held flat",
            evidence=evidence,
        )
    if _chance_stall(transfer, signs, own_loss):
        unsure = _judge_alone(ratio, alone, evidence)
        if unsure is not None:
            return unsure
    wehe = stats.wehe_test(stats.throughput_bins(transfer.body_samples()), controls.bins)
    evidence.wehe = wehe
    if wehe is None or wehe.decision != "differentiated":
        why = "too few samples" if wehe is None else f"Wehe's test is {wehe.decision}"
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            f"{ratio:.0f}x slower than the controls, but {why}",
            evidence=evidence,
        )
    mechanism, how = _mechanism(transfer, signs, controls, evidence)
    reason = (
        f"{mechanism} at ~{format_rate(rate)}; controls {_controls_text(controls)} "
        f"(the slowest {ratio:.0f}x faster); {how}"
    )
    return throttled(mechanism, rate, reason, evidence)


def _own_loss(transfer: TransferRecord, controls: Controls, evidence: Evidence) -> float | None:
    """Its loss per segment over the controls' (pooled), into ``evidence``; None unknown."""
    evidence.out_of_order_share = loss_density([transfer.tcp_info])
    ratio = loss_ratio(transfer.tcp_info, controls.loss_density)
    evidence.loss_ratio_to_controls = ratio
    return ratio


def _judge_own_random_loss(
    target: TargetResult,
    controls: Controls,
    ratio: float,
    evidence: Evidence,
) -> Verdict | None:
    """Under 10x slower, but losing packets of its own: the July 2024 YouTube pattern.

    Throttled when it is at least ``LOSS_SLOWDOWN`` below the slowest control,
    it loses packets of its own (``measure.loss.loses_on_its_own``, against the
    controls' share per segment, pooled: a control that finished in
    milliseconds still shows its share), no queue is its own, and
    Wehe's test agrees. Its rate held flat (a plateau) makes it a policer that
    leaves more than a tenth of the link; otherwise the mechanism is ``loss``.
    None: not this rule's case.
    """
    transfer, rate = target.transfer, target.goodput_bytes_per_second
    share = evidence.out_of_order_share
    if transfer is None or rate is None or ratio < LOSS_SLOWDOWN:
        return None
    if share is None or not loses_on_its_own(share, controls.loss_density):
        return None
    signs = _throttle_signs(transfer, controls)
    if signs.own_queue or signs.received_queue:
        # A shaper under 10x drops from its queue too: its queue, not its losses, is
        # the sign, and the history rule is what catches it.
        return None
    wehe = stats.wehe_test(stats.throughput_bins(transfer.body_samples()), controls.bins)
    evidence.wehe = wehe
    if wehe is None or wehe.decision != "differentiated":
        return None
    evidence.loss_events = signs.losses
    evidence.plateau_cv = stats.coefficient_of_variation(
        stats.throughput_bins(transfer.body_samples())
    )
    mechanism = Mechanism.POLICING if signs.plateau else Mechanism.LOSS
    controls_share = controls.loss_density or 0.0
    reason = (
        f"{mechanism} at ~{format_rate(rate)}: {ratio:.1f}x slower than the slowest control "
        f"(controls {_controls_text(controls)}), losing packets of its own: {share:.1%} of its "
        f"segments out of order against {controls_share:.2%} for the controls; "
        f"Wehe's test agrees (area {wehe.area:.0%})"
    )
    return throttled(mechanism, rate, reason, evidence)


def receiver_rtt_inflation(transfer: TransferRecord) -> float | None:
    """The download's standing queue: the 10th percentile of its RTT as the kernel's
    receiver estimates it (TCP_INFO), over its connect; None without either.

    A low percentile, not the median: a shaper's queue never drains while its
    flow fills it (the lab's shaped downloads: 169 ms at the 10th percentile
    over a 5 ms connect), while loss recovery only stretches the estimate of
    the windows it strikes (5% random loss on a 50 ms path: a median of
    80-147 ms, a 10th percentile of 50-53 ms).
    """
    rtts = sorted(sample.receiver_rtt for sample in transfer.tcp_info if sample.receiver_rtt)
    base = transfer.round_trip()
    if not rtts or not base:
        return None
    return rtts[len(rtts) // 10] / base


def _queued_in_band(transfer: TransferRecord, controls: Controls) -> bool:
    """The download's receiver RTT well above its connect, and well above what the
    controls' show: a queue for it alone, which random loss does not make.

    Against the controls', because on a busy link every flow waits in the
    same queue (8 downloads on the lab's 100 Mbit/s, 50 ms path: the
    controls' receiver RTT at 50-120 ms at the 10th percentile).
    """
    inflation, base = receiver_rtt_inflation(transfer), transfer.round_trip()
    if inflation is None or not base:
        return False
    limit = max(stats.RTT_INFLATION, 1 + stats.RTT_INFLATION_FLOOR / base)
    shared = (controls.receiver_rtt_inflation or 1.0) * stats.RTT_INFLATION
    return inflation > max(limit, shared)


def _chance_stall(
    transfer: TransferRecord, signs: "_ThrottleSigns", own_loss: float | None
) -> bool:
    """10x slow with no loss of its own and no queue, and either an unsteady rate or no
    loss at all: what a retransmission time-out or two on a lossy fast link makes of one
    short download by chance, or the probe's own stall on a loaded machine (a throttle
    drops or queues; 1 in 300 clean rounds under three labs on two cores read 10x slow
    with neither)."""
    if signs.plateau or signs.own_queue or signs.received_queue:
        return False
    if not no_loss_of_its_own(own_loss):
        return False
    if signs.losses == 0:
        return True
    flatness = stats.coefficient_of_variation(stats.throughput_bins(transfer.body_samples()))
    return flatness is not None and flatness > UNSTEADY_CV


def _judge_alone(ratio: float, alone: SoloPair | None, evidence: Evidence) -> Verdict | None:
    """A chance stall's verdict from its solo download (None: alone it was slow too)."""
    solo = _solo_ratio(alone)
    if solo is None:
        return Verdict(
            VerdictKind.INCONCLUSIVE,
            f"{ratio:.0f}x slower than the controls, with neither a queue nor a loss of its "
            "own: not measured alone, which would tell a chance stall from a throttle",
            evidence=evidence,
        )
    if solo < SLOW_LINK_RATIO:
        return Verdict(
            VerdictKind.OK,
            f"{ratio:.0f}x slower than the controls once, with neither a queue nor a loss of "
            f"its own, but alone only {solo:.1f}x: a chance stall",
            evidence=evidence,
        )
    return None


def _judge_on_slow_network(
    target: TargetResult, controls: Controls, degraded: str, alone: SoloPair | None
) -> Verdict:
    """Slow controls make a slow target ``degraded``, unless it shows what congestion cannot.

    A throttle shows as a rate held flat (the plateau stop) well below the
    controls' median at the same time, with losses (a policer) or a queue of
    its own (a shaper), and Wehe's test on the two distributions agrees.
    Congestion can do all that to one unlucky flow (TCP shares a busy link
    unfairly: seen in the lab's congested runs), but not alone: so the round's
    solo downloads must agree, the target still well below the slowest
    control when each had the link to itself. The median rather than the
    slowest control in the round: on a crowded slow link one control is
    often starved itself (1.8x above a policed target in the lab, where the
    median was 3.4x).
    """
    evidence = _base(target, controls)
    transfer, rate, median = target.transfer, target.goodput_bytes_per_second, controls.median
    if transfer is None or rate is None or median is None or rate <= 0:
        return Verdict(VerdictKind.DEGRADED, degraded, evidence=evidence)
    ratio = median / rate
    evidence.ratio_to_controls_median = ratio
    if ratio < SLOW_LINK_RATIO:
        return Verdict(VerdictKind.DEGRADED, degraded, evidence=evidence)
    signs = _throttle_signs(transfer, controls)
    queue = signs.own_queue and signs.probes >= MIN_QUEUE_PROBES
    if not (queue or (signs.plateau and signs.losses > 0)):
        why = "its rate was not held flat with losses, nor queued for it alone"
        reason = f"{degraded}; {ratio:.1f}x below the controls' median, but {why}"
        return Verdict(VerdictKind.DEGRADED, reason, evidence=evidence)
    wehe = stats.wehe_test(stats.throughput_bins(transfer.body_samples()), controls.bins)
    evidence.wehe = wehe
    if wehe is None or wehe.decision != "differentiated":
        why = "too few samples" if wehe is None else f"Wehe's test is {wehe.decision}"
        reason = f"{degraded}; {ratio:.1f}x below the controls' median, but {why}"
        return Verdict(VerdictKind.DEGRADED, reason, evidence=evidence)
    solo = _solo_ratio(alone)
    if solo is None or solo < SLOW_LINK_RATIO:
        shared = "it was not measured alone" if solo is None else f"alone only {solo:.1f}x"
        reason = f"{degraded}; {ratio:.1f}x below the controls' median, but {shared}"
        return Verdict(VerdictKind.DEGRADED, reason, evidence=evidence)
    evidence.slow_network = True
    mechanism, how = _mechanism(transfer, signs, controls, evidence)
    reason = (
        f"{mechanism} at ~{format_rate(rate)} on a slow network: held flat {ratio:.1f}x below "
        f"the controls at the same time (median {_controls_text(controls)}); {how}"
    )
    return throttled(mechanism, rate, reason, evidence)


@dataclass(frozen=True)
class _ThrottleSigns:
    """What a slow target's own download says about a throttle."""

    losses: int  # loss events the client saw
    # share of in-band RTT probes well above its set-up round trip (TCP connect, QUIC handshake)
    rtt_inflated_share: float | None
    own_queue: bool  # that share is high while the controls' is not: a queue for it alone
    received_queue: bool  # its receiver RTT says the same (_queued_in_band)
    probes: int  # how many in-band RTT probes that share rests on
    plateau: bool  # it stopped because its rate had held flat

    @property
    def beyond_random_loss(self) -> bool:
        """A sign random loss cannot make: a rate held flat, or a queue seen by enough probes.

        Enough probes, because under random loss a probe's lost SYN also
        reads as inflated, and a download stalled by time-outs still lasts
        only a second or two: one or two probes.
        """
        return self.plateau or (self.own_queue and self.probes >= MIN_QUEUE_PROBES)


def _throttle_signs(transfer: TransferRecord, controls: Controls) -> _ThrottleSigns:
    share = stats.rtt_inflated_share(transfer.rtt_probes, transfer.round_trip())
    own_queue = share is not None and share > stats.RTT_INFLATED_SHARE and not controls.queueing
    return _ThrottleSigns(
        losses=loss_events(transfer.tcp_info),
        rtt_inflated_share=share,
        own_queue=own_queue,
        received_queue=_queued_in_band(transfer, controls),
        probes=len(transfer.rtt_probes),
        plateau=transfer.stop_reason == StopReason.PLATEAU,
    )


def mechanism_of(
    target: TargetResult, controls: Controls, evidence: Evidence
) -> tuple[Mechanism, str]:
    """How ``target`` is slowed, read from its own download: mechanism and why (the
    figures into ``evidence``)."""
    if target.transfer is None:
        return Mechanism.UNKNOWN, "no download to read"
    signs = _throttle_signs(target.transfer, controls)
    return _mechanism(target.transfer, signs, controls, evidence)


def _mechanism(
    transfer: TransferRecord, signs: _ThrottleSigns, controls: Controls, evidence: Evidence
) -> tuple[Mechanism, str]:
    flatness = stats.coefficient_of_variation(stats.throughput_bins(transfer.body_samples()))
    share = signs.rtt_inflated_share
    evidence.loss_events, evidence.rtt_inflated_share = signs.losses, share
    evidence.plateau_cv = flatness
    if signs.own_queue:
        return Mechanism.SHAPING, f"RTT inflated in {share:.0%} of in-band probes (a queue)"
    if signs.losses > 0:
        queue = "network queueing too" if controls.queueing else "no RTT inflation"
        flat = "; the rate held flat though the network loses at random" if controls.lossy else ""
        return Mechanism.POLICING, f"{signs.losses} loss events, {queue}{flat}"
    return Mechanism.UNKNOWN, "neither loss nor queueing seen"


def _dns_tampering(target: TargetResult, controls: Controls) -> Verdict | None:
    """DNS tampering, where the evidence says the system resolver's answer is not the name's.

    That is: it fails for the name alone while the others answer; or its
    addresses, which no other resolver gives, are bogons (private, reserved:
    a sinkhole); or they fail certificate verification or refuse HTTPS while
    the address another resolver gives serves the name with a verified
    certificate (the address check). Resolvers
    that merely disagree are what CDNs choosing by
    resolver do every day: a failure at such an address is judged as any
    failure, at its own stage, degraded on a failing network.
    """
    system = [r for r in target.dns if r.resolver_address == "system"]
    others = [r for r in target.dns if r.resolver_address != "system"]
    system_answers = _system_answers(target.dns)
    other_answers = {a for r in others for a in r.answers}
    if system and not system_answers and other_answers and controls.system_dns_ok:
        failure = next((r.failure for r in system if r.failure is not None), "no answer")
        if failure in _UNANSWERED and _network_loses_lookups(controls):
            return None  # judged as any failure: degraded, the network loses queries
        return _dns_blocked(
            target,
            controls,
            f"the system resolver gave {failure} for this host but answers for the controls; "
            f"other resolvers answer {', '.join(sorted(other_answers))}",
        )
    if not system_answers or not other_answers or system_answers & other_answers:
        return None
    if target.failure in (None, Failure.HTTP_STATUS):
        return None  # it answered over TLS verified for the name: the address is the name's
    answered = (
        f"the system resolver answered {', '.join(sorted(system_answers))}, other resolvers "
        f"{', '.join(sorted(other_answers))}"
    )
    if all(_is_bogon(a) for a in system_answers) and not any(map(_is_bogon, other_answers)):
        failure = f"; connecting there: {target.failure}" if target.failure else ""
        return _dns_blocked(target, controls, f"{answered}{failure}")
    check = target.address_check
    used = target.transfer.address if target.transfer is not None else None
    not_the_names = _NOT_THE_NAMES.get(target.failure) if used in system_answers else None
    if not_the_names and check is not None and check.transfer.failure is None:
        # The address check's own note follows: at the other's address it works.
        return _dns_blocked(target, controls, f"{answered}; the system's {not_the_names}")
    return None


# What no address of the name's own would do, and a lie's address does: a
# certificate for another name (a block page's server), or no HTTPS at all (a
# sinkhole, a stub). A time-out or a reset says nothing of whose address it is.
_NOT_THE_NAMES = {
    Failure.TLS_CERT_INVALID: "fails certificate verification for the name",
    Failure.TCP_REFUSED: "refuses HTTPS",
}


def _dns_blocked(target: TargetResult, controls: Controls, reason: str) -> Verdict:
    return Verdict(
        VerdictKind.BLOCKED,
        reason,
        stage=Stage.DNS,
        evidence=_base(target, controls),
        rule=Rule.RESOLVERS,
    )


def _network_loses_lookups(controls: Controls) -> bool:
    """An unanswered query says nothing of the name where the controls' go unanswered too,
    or the network is slow or failing: a congested link drops queries by itself (the
    lab's 2 Mbit/s long runs: 16 of 150 targets' lookups, and 20 of the controls')."""
    return controls.lost_lookups > 0 or controls.degraded_reason() is not None


def _system_answers(records: Sequence[DnsRecord]) -> set[str]:
    return {a for r in records if r.resolver_address == "system" for a in r.answers}


def _is_bogon(address: str) -> bool:
    ip = ipaddress.ip_address(address)
    return ip.is_private or ip.is_loopback or ip.is_unspecified or ip.is_reserved


def _base(target: TargetResult, controls: Controls) -> Evidence:
    redirects = list(target.transfer.redirects) if target.transfer is not None else []
    figures = TargetFigures(target.goodput_bytes_per_second, target.failure, redirects)
    return Evidence(target=figures, controls=controls.figures())


def _controls_text(controls: Controls) -> str:
    median = controls.median
    return "no control measured" if median is None else format_rate(median)
