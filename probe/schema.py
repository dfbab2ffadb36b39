"""The judged round: what the runner makes of a round, and its written form.

It sits between the analysis and the sinks in the one-way flow: the runner
builds a ``FinishedRound`` from the round's records and verdicts, and the
sinks (the terminal, the JSON document, the metrics, the archive) only read
it.

Written down, a judged round is one of three documents, typed here and
written and read by one pydantic codec (``encode``, ``decode_round``,
``decode_entry``, ``decode_window``), whatever writes or reads them (the JSON
document, the archive, restore, the episodes, the report, the lab's truth):

* ``RoundDocument`` (``check --json``): the settings, every record, and each
  target's verdict with its typed evidence;
* ``WindowDocument`` (``check --rounds N``): each round's document, and the
  window's verdicts;
* ``ArchiveEntry`` (one line of the archive): a round's document with the
  probe's identity and the window's verdicts as they were then.

Formats carry their version (``throttle-probe.check/2``). A reader takes
every version of its family: what a field did not hold in an older version
reads as its default (version 1 wrote the same keys, without the evidence's
empty ones). ``python -m probe.schema`` prints the JSON Schema of the three
(published as docs/schema.json).
"""

import dataclasses
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pydantic
import pydantic.dataclasses

from probe import __version__
from probe.analysis.control_state import ControlState, control_state
from probe.analysis.ech import EchFindings, EchSection
from probe.analysis.evidence import Evidence
from probe.analysis.locate import LocateFindings, LocateOutcome
from probe.analysis.replay_findings import ReplayFindings, ReplayOutcome
from probe.analysis.round_judgement import RoundJudgement
from probe.analysis.sniswap import SwapFindings, SwapOutcome
from probe.analysis.taint import TaintDuration, TaintFindings, TaintOutcome
from probe.analysis.target_verdict import Verdict, label_of
from probe.config import Config
from probe.records import (
    EchProbe,
    Mechanism,
    NetworkState,
    Remeasured,
    ReplayRecord,
    Role,
    RoundResult,
    Rule,
    Stage,
    TaintRetests,
    TargetResult,
    Transport,
    TtlWalk,
    VerdictKind,
)

ROUND_FAMILY = "throttle-probe.check/"
WINDOW_FAMILY = "throttle-probe.window/"
ENTRY_FAMILY = "throttle-probe.round/"
VERSION = 2
ROUND_FORMAT = f"{ROUND_FAMILY}{VERSION}"
WINDOW_FORMAT = f"{WINDOW_FAMILY}{VERSION}"
ENTRY_FORMAT = f"{ENTRY_FAMILY}{VERSION}"


@dataclass(frozen=True)
class FinishedRound:
    """One round as the runner hands it to the sinks."""

    number: int  # 1 for the first round of this run
    result: RoundResult
    judgement: RoundJudgement
    # Verdicts over the rolling window of the latest rounds, this one included.
    window: dict[str, Verdict]
    window_rounds: int  # how many rounds that window holds now
    config: Config  # what the round measured, as it was then (a reload changes it later)
    quic_window: dict[str, Verdict] = field(default_factory=dict)  # the window over QUIC

    def window_on(self, transport: Transport) -> dict[str, Verdict]:
        """The window's verdicts over ``transport``, by target name."""
        return self.quic_window if transport == Transport.QUIC else self.window


class SchemaError(ValueError):
    """A document that is not what its format says; ``str()`` is one sentence."""


@dataclass
class VerdictSummary:
    """A round's verdict of one target, as its entry carries it (the evidence beside it)."""

    verdict: VerdictKind
    reason: str
    mechanism: Mechanism | None = None
    rate_bytes_per_second: float | None = None
    stage: Stage | None = None
    rule: Rule = Rule.CONTROLS

    @property
    def label(self) -> str:
        """``throttled/policing``, ``blocked/tls``, ``ok``: the verdict in one word."""
        return label_of(self.verdict, self.mechanism or self.stage)


@pydantic.dataclasses.dataclass
class JudgedEntry(TargetResult):
    """A target's or control's download of a round: a target's verdict, a control's state."""

    verdict: VerdictSummary | None = None
    evidence: Evidence | None = None
    control_state: ControlState | None = None  # a control's own: it worked, or where it failed

    # The headline figure at the top of each entry, for people and jq alike.
    @pydantic.computed_field  # type: ignore[prop-decorator]
    @property
    def goodput_bytes_per_second(self) -> float | None:
        return None if self.transfer is None else self.transfer.goodput_bytes_per_second

    def judged(self) -> Verdict | None:
        """The verdict with its evidence, as the analysis made it."""
        summary = self.verdict
        if summary is None:
            return None
        return Verdict(
            summary.verdict,
            summary.reason,
            summary.mechanism,
            summary.rate_bytes_per_second,
            summary.stage,
            self.evidence or Evidence(),
            summary.rule,
        )


@dataclass
class ReplaySection:
    """The replay test judged: each session against its baseline, and the findings."""

    outcomes: list[ReplayOutcome] = field(default_factory=list)
    findings: list[str] = field(default_factory=list)  # one sentence per direction


@dataclass
class RoundDocument:
    """One judged round: everything needed to show it, and to judge it again later."""

    format: str
    probe_version: str
    started_at: str
    finished_at: str
    interrupted: bool
    # Every target and control once per transport it went over (``transport``).
    targets: list[JudgedEntry]
    round_id: str = ""
    config: str = ""  # the targets file it measured
    # The effective settings and resolvers as the config writes them (docs/targets.md):
    # kept as written, so an entry of a version with other settings still reads.
    settings: dict[str, Any] = field(default_factory=dict)
    resolvers: dict[str, str] = field(default_factory=dict)
    sni_swap: dict[str, SwapOutcome] = field(default_factory=dict)  # by suspect name
    replays: list[ReplayRecord] = field(default_factory=list)
    remeasured: Remeasured | None = None  # the grey zone's solo downloads
    quic_not_offered: list[str] = field(default_factory=list)
    replay: ReplaySection = field(default_factory=ReplaySection)
    # The network over TCP as the round's controls saw it (None: no control measured).
    network_state: NetworkState | None = None
    ech_probes: list[EchProbe] = field(default_factory=list)  # the ECH check's records
    ech: EchSection | None = None  # ... judged: each ClientHello's outcome, one verdict
    taint: TargetResult | None = None  # the taint check's download (the swap's server, after)
    taint_check: TaintOutcome | None = None  # ... judged against the swap's innocuous one
    # The previous round's tainted address measured again since (the daemon's re-tests),
    # and for how long it read slowed.
    taint_retests: TaintRetests | None = None
    taint_duration: TaintDuration | None = None
    # The targets located since the previous round (daemon.locate): the TTL walks, judged.
    locate_walks: list[TtlWalk] = field(default_factory=list)
    locate: list[LocateOutcome] = field(default_factory=list)

    def entries_over(self, transport: Transport = Transport.TCP) -> list[JudgedEntry]:
        """The entries of the downloads over ``transport``."""
        return [entry for entry in self.targets if entry.transport == transport]

    def verdicts(self, transport: Transport = Transport.TCP) -> dict[str, Verdict]:
        """The round's verdicts over ``transport``, by target name."""
        judged = ((entry.name, entry.judged()) for entry in self.entries_over(transport))
        return {name: verdict for name, verdict in judged if verdict is not None}

    def result(self) -> RoundResult:
        """The round's records, to analyse again."""
        return RoundResult(
            started_at=self.started_at,
            finished_at=self.finished_at,
            interrupted=self.interrupted,
            targets=list(self.entries_over(Transport.TCP)),
            replays=self.replays,
            round_id=self.round_id,
            remeasured=self.remeasured,
            quic=list(self.entries_over(Transport.QUIC)),
            quic_not_offered=self.quic_not_offered,
            ech=self.ech_probes,
            taint=self.taint,
            taint_retests=self.taint_retests,
            locate=self.locate_walks,
        )


@dataclass
class WindowSection:
    """The window's verdicts as they stood when a round was archived."""

    rounds: int = 0  # how many rounds the window held
    verdicts: dict[str, Verdict] = field(default_factory=dict)


@dataclass
class ArchiveEntry(RoundDocument):
    """One line of the archive: the round's document, who measured it, and the window."""

    identity: dict[str, Any] = field(default_factory=dict)  # the config's ``identity``
    daemon: dict[str, Any] = field(default_factory=dict)  # the config's ``daemon``
    window: WindowSection = field(default_factory=WindowSection)
    quic_window: WindowSection = field(default_factory=WindowSection)

    def window_over(self, transport: Transport = Transport.TCP) -> dict[str, Verdict]:
        window = self.quic_window if transport == Transport.QUIC else self.window
        return window.verdicts


@dataclass
class WindowDocument:
    """``check --rounds N``: each round's document, and the window's verdicts."""

    format: str
    probe_version: str
    rounds: list[RoundDocument]
    window: dict[str, Verdict] = field(default_factory=dict)
    quic_window: dict[str, Verdict] = field(default_factory=dict)


def round_document(
    result: RoundResult, config: Config, source: str, judgement: RoundJudgement
) -> RoundDocument:
    """The document of one judged round."""
    # Each kind's findings are typed fields of the document: looked up by their type.
    swap, replays = judgement.found(SwapFindings), judgement.found(ReplayFindings)
    ech, taint = judgement.found(EchFindings), judgement.found(TaintFindings)
    located = judgement.found(LocateFindings)
    return RoundDocument(
        format=ROUND_FORMAT,
        probe_version=__version__,
        started_at=result.started_at,
        finished_at=result.finished_at,
        interrupted=result.interrupted,
        targets=[
            *judged_entries(result.targets, judgement.verdicts),
            *judged_entries(result.quic, judgement.quic),
        ],
        round_id=result.round_id,
        config=source,
        settings=config.settings.model_dump(mode="json"),
        resolvers=dict(config.resolvers),
        sni_swap=swap.outcomes if swap is not None else {},
        replays=result.replays,
        remeasured=result.remeasured,
        quic_not_offered=result.quic_not_offered,
        replay=ReplaySection(replays.outcomes, replays.sentences) if replays else ReplaySection(),
        network_state=judgement.network,
        ech_probes=result.ech,
        ech=ech.section if ech is not None else None,
        taint=result.taint,
        taint_check=taint.outcome if taint is not None else None,
        taint_retests=result.taint_retests,
        taint_duration=taint.duration if taint is not None else None,
        locate_walks=result.locate,
        locate=located.outcomes if located is not None else [],
    )


def archive_entry(finished: FinishedRound, source: str) -> ArchiveEntry:
    """The archive's line for a finished round: self-contained, versioned."""
    config = finished.config
    document = round_document(finished.result, config, source, finished.judgement)
    fields = {f.name: getattr(document, f.name) for f in dataclasses.fields(RoundDocument)}
    fields["format"] = ENTRY_FORMAT
    return ArchiveEntry(
        **fields,
        identity=config.identity.model_dump(mode="json"),
        daemon=config.daemon.model_dump(mode="json"),
        window=WindowSection(finished.window_rounds, finished.window),
        quic_window=WindowSection(finished.window_rounds, finished.quic_window),
    )


def window_document(rounds: Sequence[FinishedRound], source: str) -> WindowDocument:
    """The document of several rounds of one run, and the window after the last."""
    last = rounds[-1]
    return WindowDocument(
        format=WINDOW_FORMAT,
        probe_version=__version__,
        rounds=[round_document(r.result, r.config, source, r.judgement) for r in rounds],
        window=last.window,
        quic_window=last.quic_window,
    )


def judged_entries(
    entries: Sequence[TargetResult], verdicts: dict[str, Verdict]
) -> list[JudgedEntry]:
    """Each entry as its document holds it, with its verdict by name (controls have none)."""
    judged = []
    for entry in entries:
        verdict = verdicts.get(entry.name)
        summary = None
        if verdict is not None:
            summary = VerdictSummary(
                verdict.verdict,
                verdict.reason,
                verdict.mechanism,
                verdict.rate_bytes_per_second,
                verdict.stage,
                verdict.rule,
            )
        fields = {f.name: getattr(entry, f.name) for f in dataclasses.fields(TargetResult)}
        evidence = None if verdict is None else verdict.evidence
        state = control_state(entry) if entry.role == Role.CONTROL else None
        judged.append(
            JudgedEntry(**fields, verdict=summary, evidence=evidence, control_state=state)
        )
    return judged


Document = RoundDocument | WindowDocument | ArchiveEntry
_D = TypeVar("_D", RoundDocument, WindowDocument, ArchiveEntry)


_ADAPTERS: dict[Any, pydantic.TypeAdapter[Any]] = {}


def _adapter(kind: Any) -> pydantic.TypeAdapter[Any]:
    """The codec of one document, built when first needed: ~30 ms that a terminal
    ``check`` (which writes no document) need not wait for at start."""
    if kind not in _ADAPTERS:
        _ADAPTERS[kind] = pydantic.TypeAdapter(kind)
    return _ADAPTERS[kind]


def encode(document: Document) -> dict[str, Any]:
    """``document`` as plain JSON values (``json.dumps`` writes them)."""
    encoded: dict[str, Any] = _adapter(type(document)).dump_python(document, mode="json")
    return encoded


def decode_round(data: Any) -> RoundDocument:
    """A round's document (``check --json``, or an archive entry read as one)."""
    families = (ROUND_FAMILY, ENTRY_FAMILY)
    return _decode(RoundDocument, data, families)


def decode_entry(data: Any) -> ArchiveEntry:
    """An archive entry, of any version."""
    return _decode(ArchiveEntry, data, (ENTRY_FAMILY,))


def decode_window(data: Any) -> WindowDocument:
    """``check --rounds N``'s document."""
    return _decode(WindowDocument, data, (WINDOW_FAMILY,))


def _format_of(data: Any) -> str:
    """The format a JSON document names, or "" when it names none."""
    return str(data.get("format", "")) if isinstance(data, dict) else ""


def _decode(kind: type[_D], data: Any, families: Sequence[str]) -> _D:
    name = _format_of(data)
    if not name.startswith(tuple(families)):
        raise SchemaError(f"not a {' or '.join(f'{f}N' for f in families)} document: {name!r}")
    try:
        decoded: _D = _adapter(kind).validate_python(data)
    except pydantic.ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise SchemaError(f"{name} document, at {where}: {first['msg']}") from None
    return decoded


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the three documents as this version writes them."""
    schema: dict[str, Any] = _adapter(Document).json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = f"throttle-probe documents, version {VERSION}"
    schema["description"] = (
        f"{ROUND_FORMAT} (check --json), {WINDOW_FORMAT} (check --rounds N) "
        f"and {ENTRY_FORMAT} (a line of the archive)"
    )
    return schema


if __name__ == "__main__":
    sys.stdout.write(json.dumps(json_schema(), indent=2) + "\n")
