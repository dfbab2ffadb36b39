"""Episodes: a target's verdicts over time, read from archived rounds, as stretches.

"twitter-com throttled (policing) at ~140 kbit/s from 06:00 to 09:30, while
the controls got 95 Mbit/s" is what a report needs, not 800 round verdicts.
Consecutive rounds with the same window verdict (kind, and the mechanism or
stage) make one episode; pure functions over archive entries (as
``probe.evidence.archive`` reads them).
"""

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from probe.analysis.round_judgement import judge_all
from probe.analysis.target_verdict import Verdict, label_of
from probe.records import Mechanism, Role, Stage, Transport, VerdictKind
from probe.schema import ArchiveEntry


@dataclass
class Episode:
    target: str
    group: str
    verdict: VerdictKind
    detail: Mechanism | Stage | None  # the mechanism (throttled) or the stage (blocked)
    start: str  # the first round's start (ISO 8601, UTC)
    end: str  # the last round's end
    rounds: int = 0
    # The target's window rates: a throttle's estimate, else its median goodput.
    rates: list[float] = field(default_factory=list)
    controls: list[float] = field(default_factory=list)  # the controls' medians
    round_ids: list[str] = field(default_factory=list)
    transport: Transport = Transport.TCP  # what carried the downloads judged
    ratios: list[float] = field(default_factory=list)  # the window's ratio to the controls
    # The window verdict of the episode's middle round, its reason and evidence: what a
    # reader checks (``representative_round`` names that round).
    representative: Verdict | None = None
    representative_round: str = ""

    @property
    def label(self) -> str:
        return label_of(self.verdict, self.detail)

    @property
    def shown_target(self) -> str:
        """The target as tables show it: with ``over QUIC`` for an episode over QUIC."""
        return self.target if self.transport == Transport.TCP else f"{self.target} over QUIC"

    def summary(self) -> dict[str, Any]:
        """The episode as the report's JSON gives it."""
        return {
            "target": self.target,
            "transport": self.transport,
            "group": self.group,
            "verdict": self.verdict,
            "detail": self.detail,
            "start": self.start,
            "end": self.end,
            "rounds": self.rounds,
            "rate_bytes_per_second": _median(self.rates),
            "controls_bytes_per_second": _median(self.controls),
            "first_round_id": self.round_ids[0] if self.round_ids else None,
            "last_round_id": self.round_ids[-1] if self.round_ids else None,
            "ratio_to_controls": _median(self.ratios),
            "reason": self.representative.reason if self.representative else None,
            "representative_round_id": self.representative_round or None,
        }


def episodes(entries: Iterable[ArchiveEntry]) -> list[Episode]:
    """Every target's episodes over each transport, by target, then by time."""
    open_episodes: dict[tuple[str, Transport], Episode] = {}
    done: list[Episode] = []
    middles: dict[int, list[Verdict]] = {}  # each episode's window verdicts, for its middle
    for entry in sorted(entries, key=lambda e: e.started_at):
        for transport in Transport:
            for episode in _continue(open_episodes, entry, transport, middles):
                done.append(episode)
    done.extend(open_episodes.values())
    for episode in done:
        verdicts = middles.pop(id(episode), [])
        if verdicts:
            middle = len(verdicts) // 2
            episode.representative = verdicts[middle]
            episode.representative_round = episode.round_ids[middle]
    return sorted(done, key=lambda e: (e.target, e.transport != Transport.TCP, e.start))


def _continue(
    open_episodes: dict[tuple[str, Transport], Episode],
    entry: ArchiveEntry,
    transport: Transport,
    middles: dict[int, list[Verdict]],
) -> list[Episode]:
    """Add ``entry``'s window verdicts over ``transport`` to the open episodes; the ones it ends."""
    ended = []
    controls = _controls_median(entry, transport)
    for name, verdict in _window_verdicts(entry, transport).items():
        group = _group_of(entry, name, transport)
        detail = verdict.mechanism or verdict.stage
        current = open_episodes.get((name, transport))
        same = current is not None and (current.verdict, current.detail) == (
            verdict.verdict,
            detail,
        )
        if current is None or not same:
            if current is not None:
                ended.append(current)
            current = Episode(name, group, verdict.verdict, detail, entry.started_at, "")
            current.transport = transport
            open_episodes[(name, transport)] = current
        current.end = entry.finished_at
        current.rounds += 1
        current.round_ids.append(entry.round_id)
        # A throttle's estimated rate; otherwise the window's median goodput.
        rate = verdict.rate_bytes_per_second or verdict.evidence.goodput_bytes_per_second
        if rate is not None:
            current.rates.append(rate)
        if controls is not None:
            current.controls.append(controls)
        ratio = verdict.evidence.ratio_to_slowest_control
        if ratio is not None:
            current.ratios.append(ratio)
        middles.setdefault(id(current), []).append(verdict)
    return ended


@dataclass(frozen=True)
class Difference:
    """A round whose verdict the current code judges otherwise than the archive says."""

    round_id: str
    started_at: str
    target: str
    recorded: str
    now: str


def reanalyse(entries: Iterable[ArchiveEntry]) -> tuple[int, list[Difference]]:
    """(rounds judged again, the differences) for each round's own verdicts.

    The window verdicts depend on the rounds around them and are not judged
    again here.
    """
    judged, differences = 0, []
    for entry in entries:
        judgement = judge_all(entry.result(), replay_control_name(entry))
        judged += 1
        for transport in Transport:
            now = judgement.on(transport)
            for name, recorded in entry.verdicts(transport).items():
                if name not in now or recorded.label == now[name].label:
                    continue
                shown = name + ("" if transport == Transport.TCP else " over QUIC")
                differences.append(
                    Difference(
                        entry.round_id, entry.started_at, shown, recorded.label, now[name].label
                    )
                )
    return judged, differences


def replay_control_name(entry: ArchiveEntry) -> str:
    """The replay's innocuous name, as the round judged its sessions against it."""
    return next((o.sni for o in entry.replay.outcomes if o.control), "")


def _window_verdicts(entry: ArchiveEntry, transport: Transport) -> dict[str, Verdict]:
    # A round archived without a window: its own verdicts stand in.
    return entry.window_over(transport) or entry.verdicts(transport)


def _group_of(entry: ArchiveEntry, name: str, transport: Transport) -> str:
    return next((t.group for t in entry.entries_over(transport) if t.name == name), "")


def _controls_median(entry: ArchiveEntry, transport: Transport) -> float | None:
    rates = [
        rate
        for t in entry.entries_over(transport)
        if t.role == Role.CONTROL
        and t.failure is None
        and (rate := t.goodput_bytes_per_second) is not None
    ]
    return statistics.median(rates) if rates else None


def _median(values: Sequence[float]) -> float | None:
    return statistics.median(values) if values else None
