"""The Prometheus metrics of ``throttle-probe run``: every finished round, as series.

Two kinds of series, as exporters that keep state do:

* counters and histograms that add up over the daemon's life (rounds,
  measurements by result, failures by stage, bytes, phase durations), kept
  by prometheus-client;
* the latest state (goodput, verdicts of the latest round and of the window,
  ratios, last success), rebuilt from one snapshot per round, so that what
  was not measured in the latest round is absent, never a zero.

Labels are bounded by the targets file (group, target, role, transport, phase,
scope, verdict, mechanism, stage, failure): never an address, a URL or an error
text. ``transport`` is ``tcp`` or ``quic``: a target is measured and judged over
each (QUIC where its server offers HTTP/3).
A scrape reads the snapshot and never waits for a measurement.
"""

import dataclasses
import datetime
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, InfoMetricFamily, Metric

from probe import __version__
from probe.analysis.control_state import control_state
from probe.analysis.kind import Series
from probe.analysis.stages import stage_of
from probe.analysis.target_verdict import Verdict
from probe.budget import DataBudget
from probe.config import Identity
from probe.measure.freeze import freeze_point
from probe.records import (
    Failure,
    NetworkState,
    Role,
    RoundResult,
    Stage,
    TargetResult,
    Transport,
    VerdictKind,
)
from probe.schema import FinishedRound

PREFIX = "throttle_probe"
ENTRY_LABELS = ("group", "target", "role", "transport")
VERDICT_LABELS = ("group", "target", "scope", "transport")  # scope: "round" or "window"
PHASE_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
ROUND_BUCKETS = (1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
# Record phase -> metric phase; "wait" is the time from the request to the first byte.
# QUIC's "handshake" is its connect and TLS in one (from the first Initial).
PHASES = {"connect": "connect", "tls": "tls", "handshake": "handshake", "wait": "first_byte"}


EntryKey = tuple[str, str, str, str]  # the values of ENTRY_LABELS
VerdictKey = tuple[str, str, str, str]  # the values of VERDICT_LABELS


@dataclass(frozen=True)
class _Snapshot:
    """The latest round's state, replaced whole after every round (scrapes read it as is)."""

    finished_at: float | None = None
    goodput: dict[EntryKey, float] = field(default_factory=dict)
    last_success: dict[EntryKey, float] = field(default_factory=dict)
    verdicts: list[tuple[VerdictKey, Verdict]] = field(default_factory=list)
    # group, target, transport -> the target's goodput over the controls' median
    ratios: dict[tuple[str, str, str], float] = field(default_factory=dict)
    controls_median: dict[Transport, float] = field(default_factory=dict)
    quic_blocked: bool | None = None  # most controls failed over QUIC while TCP worked
    window_rounds: int = 0
    # group, target, transport -> "ok" or the stage the control failed at
    control_states: dict[tuple[str, str, str], str] = field(default_factory=dict)
    froze_after: dict[EntryKey, float] = field(default_factory=dict)  # connection bytes
    network: NetworkState | None = None  # over TCP, as the controls saw it
    kind_series: list[Series] = field(default_factory=list)  # what the kinds export


class MetricsSink:
    """Feeds the registry from finished rounds; ``collect`` serves the latest state."""

    def __init__(
        self, registry: CollectorRegistry, identity: Identity, budget: DataBudget | None = None
    ) -> None:
        self.identity = identity
        self._budget = budget
        self._snapshot = _Snapshot()
        self._kept: dict[str, Series] = {}  # kept series (Series.kept), by name
        self._reload_ok: tuple[bool, float] | None = None
        self.generation = 0  # changes whenever what ``collect`` yields changes
        self._counters(registry)
        registry.register(self)

    def _counters(self, registry: CollectorRegistry) -> None:
        def counter(name: str, text: str, labels: Iterable[str] = ()) -> Counter:
            return Counter(f"{PREFIX}_{name}", text, tuple(labels), registry=registry)

        self._rounds = counter("rounds", "Rounds measured (interrupted ones included).")
        self._round_seconds = Histogram(
            f"{PREFIX}_round_duration_seconds",
            "Wall-clock seconds a round took, from its first query to its last byte.",
            buckets=ROUND_BUCKETS,
            registry=registry,
        )
        self._measurements = counter(
            "measurements",
            "Downloads measured, by result: success, or failure (see failures_total).",
            (*ENTRY_LABELS, "result"),
        )
        self._failures = counter(
            "failures",
            "Failed downloads by the stage they failed at and the failure's name.",
            (*ENTRY_LABELS, "stage", "failure"),
        )
        self._received = counter(
            "received_bytes", "Body bytes received by downloads.", ENTRY_LABELS
        )
        self._transferred = counter(
            "transferred_bytes",
            "Body bytes moved by every measurement, replays both ways: what the budget counts.",
        )
        self._verdicts = counter(
            "verdicts",
            "Verdicts given, one per target and round, for the round (scope=round) and the "
            "window (scope=window): how often, not only what now.",
            (*VERDICT_LABELS, "verdict"),
        )
        self._phases = Histogram(
            f"{PREFIX}_phase_duration_seconds",
            "Seconds each phase of a download took: dns (the resolver whose answer was "
            "used), connect, tls, handshake (QUIC's, from the first Initial), first_byte "
            "(request sent to first body byte).",
            (*ENTRY_LABELS, "phase"),
            buckets=PHASE_BUCKETS,
            registry=registry,
        )

    @property
    def last_round(self) -> float | None:
        """When the latest round finished (Unix time), None before the first."""
        return self._snapshot.finished_at

    # -- the sink ------------------------------------------------------------------

    def round_finished(self, finished: FinishedRound) -> None:
        result = finished.result
        # The round's id as an exemplar (OpenMetrics): a point on a panel leads
        # to the archived evidence of that very round.
        exemplar = {"round_id": result.round_id} if result.round_id else None
        self._rounds.inc(exemplar=exemplar)
        self._round_seconds.observe(_round_seconds(result), exemplar)
        self._transferred.inc(result.bytes_transferred)
        for entry in [*result.targets, *result.quic]:
            self._count(entry, exemplar)
        self.generation += 1
        if result.interrupted:
            return  # stopped by the user: its verdicts say so, not what the network did
        self._snapshot = self._next_snapshot(finished)
        for labels, verdict in self._snapshot.verdicts:
            # Every verdict's counter exists from a target's first round on, at 0:
            # increase() cannot see the first count of a series that starts at 1,
            # and "never throttled" is then a 0, not a missing series.
            for kind in VerdictKind:
                self._verdicts.labels(*labels, kind)
            self._verdicts.labels(*labels, verdict.verdict).inc(exemplar=exemplar)

    def close(self) -> None:
        pass

    def reloaded(self, ok: bool, identity: Identity | None = None) -> None:
        """The targets file was read again (``ok``) or refused, keeping the old one."""
        self._reload_ok = (ok, time.time())
        if identity is not None:
            self.identity = identity
        self.generation += 1

    def _count(self, entry: TargetResult, exemplar: dict[str, str] | None) -> None:
        if entry.failure == Failure.INTERRUPTED:
            return  # the user stopped it: not a network outcome
        labels = _entry_labels(entry)
        result = "success" if entry.failure is None else "failure"
        for outcome in ("success", "failure"):  # both at 0 from the start, as the verdicts
            self._measurements.labels(*labels, outcome)
        self._measurements.labels(*labels, result).inc(exemplar=exemplar)
        if entry.failure is not None:
            stage = stage_of(entry) or Stage.HTTP
            self._failures.labels(*labels, stage, entry.failure).inc(exemplar=exemplar)
        transfer = entry.transfer
        if transfer is None:
            return
        self._received.labels(*labels).inc(transfer.bytes)
        dns = next((r for r in entry.dns if r.resolver == entry.address_from), None)
        if dns is not None:
            self._phases.labels(*labels, "dns").observe(dns.t - dns.t0, exemplar)
        for phase, name in PHASES.items():
            seconds = transfer.duration(phase)
            if seconds is not None:
                self._phases.labels(*labels, name).observe(seconds, exemplar)

    def _next_snapshot(self, finished: FinishedRound) -> _Snapshot:
        result, judgement = finished.result, finished.judgement
        now = time.time()
        entries = [*result.targets, *result.quic]
        groups = {entry.name: entry.group for entry in entries}
        goodput = {
            _entry_labels(e): e.goodput_bytes_per_second
            for e in entries
            if e.failure is None and e.goodput_bytes_per_second is not None
        }
        present = {_entry_labels(e) for e in entries}
        last_success = {k: v for k, v in self._snapshot.last_success.items() if k in present}
        last_success.update({labels: now for labels in goodput})
        medians = {
            transport: median
            for transport, controls in (
                (Transport.TCP, judgement.controls),
                (Transport.QUIC, judgement.quic_controls),
            )
            if controls is not None and (median := controls.median)
        }
        ratios = {}
        for entry in entries:
            rate, median = entry.goodput_bytes_per_second, medians.get(entry.transport)
            ok = entry.role == Role.TARGET and entry.failure is None
            if ok and rate is not None and median:
                ratios[(entry.group, entry.name, str(entry.transport))] = rate / median
        verdicts = [
            ((groups.get(name, ""), name, scope, str(transport)), verdict)
            for transport in Transport
            for scope, judged in (
                ("round", judgement.on(transport)),
                ("window", finished.window_on(transport)),
            )
            for name, verdict in judged.items()
        ]
        return _Snapshot(
            now,
            goodput,
            last_success,
            verdicts,
            ratios,
            medians,
            judgement.quic_blocked,
            finished.window_rounds,
            control_states={
                (e.group, e.name, str(e.transport)): control_state(e).state
                for e in entries
                if e.role == Role.CONTROL and e.failure != Failure.INTERRUPTED
            },
            froze_after={
                _entry_labels(e): float(point.connection_bytes)
                for e in entries
                if (point := freeze_point(e.transfer)) is not None
            },
            network=judgement.network,
            kind_series=self._with_kept(
                [s for findings in judgement.kinds.values() for s in findings.series()]
            ),
        )

    def _with_kept(self, series: list[Series]) -> list[Series]:
        """The round's series, with each kept series' samples of earlier rounds under them:
        those of a subject (the first label, a target) the round exports again go."""
        for fresh in (s for s in series if s.kept):
            earlier = self._kept.get(fresh.name)
            subjects = {labels[0] for labels, _ in fresh.samples}
            samples = [
                (labels, value)
                for labels, value in (earlier.samples if earlier is not None else ())
                if labels[0] not in subjects
            ]
            samples += list(fresh.samples)
            self._kept[fresh.name] = dataclasses.replace(fresh, samples=samples)
        return [*(s for s in series if not s.kept), *self._kept.values()]

    # -- the collector ---------------------------------------------------------------

    def describe(self) -> list[Metric]:
        return []  # the series come and go with the targets file: not described up front

    def collect(self) -> Iterator[Metric]:
        snapshot = self._snapshot
        yield self._info()
        yield from self._latest(snapshot)
        yield from _verdict_metrics(snapshot.verdicts)
        for series in snapshot.kind_series:
            yield _labelled(series.name, series.help, series.labels, series.samples)
        yield from self._budget_metrics()
        if self._reload_ok is not None:
            ok, when = self._reload_ok
            yield _gauge("config_last_reload_successful", "1 if the last reload worked.", ok)
            yield _gauge(
                "config_last_reload_timestamp_seconds", "When targets.yaml was last re-read.", when
            )

    def _info(self) -> Metric:
        identity = self.identity
        info = InfoMetricFamily(PREFIX, "The probe's version and identity (from the targets file).")
        info.add_metric(
            [],
            {
                "version": __version__,
                "probe_id": identity.id or "",
                "asn": "" if identity.asn is None else str(identity.asn),
                "country": identity.country or "",
            },
        )
        return info

    def _latest(self, snapshot: _Snapshot) -> Iterator[Metric]:
        if snapshot.finished_at is not None:
            yield _gauge(
                "last_round_timestamp_seconds",
                "When the latest round finished (Unix time).",
                snapshot.finished_at,
            )
        yield _labelled(
            "goodput_bytes_per_second",
            "Goodput of each download in the latest round; absent when it failed.",
            ENTRY_LABELS,
            snapshot.goodput.items(),
        )
        yield _labelled(
            "last_success_timestamp_seconds",
            "When each download last measured a goodput (Unix time).",
            ENTRY_LABELS,
            snapshot.last_success.items(),
        )
        yield _labelled(
            "goodput_ratio_to_controls",
            "Each target's goodput over the controls' median in the same round and over the "
            "same transport (1: as fast).",
            ("group", "target", "transport"),
            snapshot.ratios.items(),
        )
        yield _labelled(
            "controls_goodput_bytes_per_second",
            "The median goodput of the healthy controls in the latest round, per transport.",
            ("transport",),
            [((str(t),), median) for t, median in snapshot.controls_median.items()],
        )
        if snapshot.network is not None:
            yield _labelled(
                "network_state",
                "The network of the latest round over TCP as its controls saw it, 1 for the "
                "current state and 0 for the others: healthy, lossy, slow, failing, or "
                "domestic_only (only domestic services answer: a shutdown or a white list).",
                ("state",),
                [((state.value,), float(state == snapshot.network)) for state in NetworkState],
            )
        yield _labelled(
            "control_state",
            "1 for each control's own state in the latest round: ok, or the stage it failed "
            "at (freeze: it froze early in the connection). The other controls judge the "
            "round without it.",
            ("group", "target", "transport", "state"),
            [((*key, state), 1.0) for key, state in snapshot.control_states.items()],
        )
        yield _labelled(
            "froze_after_bytes",
            "Bytes a frozen download's connection had received when it froze, in the latest "
            "round; absent unless it froze.",
            ENTRY_LABELS,
            snapshot.froze_after.items(),
        )
        if snapshot.quic_blocked is not None:
            yield _gauge(
                "quic_blocked",
                "1 when most controls failed over QUIC in the latest round while TCP to them "
                "worked: the network blocks QUIC as such; absent when none went over QUIC.",
                snapshot.quic_blocked,
            )
        yield _gauge(
            "window_rounds",
            "Rounds the window verdicts rest on now (up to daemon.window).",
            snapshot.window_rounds,
        )

    def _budget_metrics(self) -> Iterator[Metric]:
        budget = self._budget
        if budget is None:
            return
        yield _gauge(
            "budget_bytes", "The daily data budget (daemon.daily_budget).", budget.daily_bytes
        )
        yield _gauge("budget_spent_bytes", "Body bytes moved today (UTC).", budget.spent)
        yield _gauge(
            "budget_paused",
            "1 while measuring pauses until midnight UTC because the budget is spent.",
            budget.paused,
        )


def _verdict_metrics(verdicts: list[tuple[VerdictKey, Verdict]]) -> Iterator[Metric]:
    state = GaugeMetricFamily(
        f"{PREFIX}_verdict",
        "The verdict of each target, 1 for the current one and 0 for the others "
        "(a state set), for the latest round (scope=round) and the window (scope=window).",
        labels=[*VERDICT_LABELS, "verdict"],
    )
    rate = GaugeMetricFamily(
        f"{PREFIX}_throttled_rate_bytes_per_second",
        "The estimated rate of a throttled target, by mechanism; absent unless throttled.",
        labels=[*VERDICT_LABELS, "mechanism"],
    )
    stage = GaugeMetricFamily(
        f"{PREFIX}_blocked_stage",
        "1 at the stage a blocked target fails at; absent unless blocked.",
        labels=[*VERDICT_LABELS, "stage"],
    )
    rule = GaugeMetricFamily(
        f"{PREFIX}_verdict_rule",
        "1 for the kind of evidence that decided each verdict: controls (the controls "
        "measured beside it), resolvers (DNS answers compared), platform_answer (its HTTP "
        "answer over verified TLS), history (against its own past), shutdown (only "
        "domestic services answered).",
        labels=[*VERDICT_LABELS, "rule"],
    )
    for labels, verdict in verdicts:
        rule.add_metric([*labels, verdict.rule.value], 1.0)
        for kind in VerdictKind:
            state.add_metric([*labels, kind.value], float(verdict.verdict == kind))
        if verdict.verdict == VerdictKind.THROTTLED and verdict.rate_bytes_per_second is not None:
            mechanism = verdict.mechanism or "unknown"
            rate.add_metric([*labels, mechanism], verdict.rate_bytes_per_second)
        if verdict.verdict == VerdictKind.BLOCKED and verdict.stage is not None:
            stage.add_metric([*labels, verdict.stage], 1.0)
    yield from (state, rate, stage, rule)


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(f"{PREFIX}_{name}", text, value=float(value))


def _labelled(
    name: str,
    text: str,
    labels: Iterable[str],
    values: Iterable[tuple[tuple[str, ...], float]],
) -> GaugeMetricFamily:
    family = GaugeMetricFamily(f"{PREFIX}_{name}", text, labels=list(labels))
    for label_values, value in values:
        family.add_metric(list(label_values), value)
    return family


def _entry_labels(entry: TargetResult) -> EntryKey:
    return (entry.group, entry.name, str(entry.role), str(entry.transport))


def _round_seconds(result: RoundResult) -> float:
    started = datetime.datetime.fromisoformat(result.started_at)
    finished = datetime.datetime.fromisoformat(result.finished_at)
    return max(0.0, (finished - started).total_seconds())
