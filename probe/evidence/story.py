"""What a report says in plain words: the period, who measured, what happened to each target.

The report page's header reads before anything is looked at: "abs-twimg-com
and pbs-twimg-com (twitter) were throttled (policing) to about 124-132 kbit/s
from 06:15 to 06:30 UTC on 10 March 2026, while the controls got 103 Mbit/s." Pure functions over
the report's episodes and states; every time is UTC, as the archive keeps it.
"""

import datetime
from collections.abc import Sequence
from dataclasses import dataclass

from probe.evidence.episodes import Episode
from probe.evidence.state_episodes import NETWORK, StateEpisode
from probe.records import VerdictKind
from probe.schema import ArchiveEntry
from probe.sinks.states import FREEZE, SHUTDOWN, shown_state
from probe.units import format_rate

# Where a block struck, and what the network was, as a reader would say it.
_STAGE_WORDS = {
    "dns": "at the DNS lookup",
    "tcp": "at the TCP connect",
    "tls": "at the TLS handshake",
    "http": "at the HTTP request",
    "stall": "mid-download",
}
_NETWORK_WORDS = {
    "lossy": "losing packets at random",
    "slow": "slow for every site, the controls too",
    "failing": "failing for most sites, the controls too",
    "domestic_only": "cut off from abroad (only domestic services answered: a shutdown or a "
    "white list)",
}


@dataclass(frozen=True)
class Probe:
    """Who measured: the identity the targets file gave (never guessed)."""

    ids: tuple[str, ...]
    asns: tuple[int, ...]
    countries: tuple[str, ...]

    def text(self) -> str:
        who = ", ".join(self.ids) if self.ids else "a probe without an id"
        where = [f"AS{asn}" for asn in self.asns] + list(self.countries)
        return f"{who} ({', '.join(where)})" if where else who


def probe_of(entries: Sequence[ArchiveEntry]) -> Probe:
    ids = sorted({str(e.identity["id"]) for e in entries if e.identity.get("id")})
    asns = sorted({int(e.identity["asn"]) for e in entries if e.identity.get("asn")})
    countries = sorted({str(e.identity["country"]) for e in entries if e.identity.get("country")})
    return Probe(tuple(ids), tuple(asns), tuple(countries))


def moment(iso: str) -> datetime.datetime:
    """An archive's time (ISO 8601), in UTC."""
    parsed = datetime.datetime.fromisoformat(iso)
    zoned = parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)
    return zoned.astimezone(datetime.UTC)


def human_day(when: datetime.datetime) -> str:
    return f"{when.day} {when:%B %Y}"


def human_period(start: str, end: str) -> str:
    """ "from 06:15 to 06:30 UTC on 10 March 2026", or with both days when they differ."""
    first, last = moment(start), moment(end)
    if f"{first:%Y%m%d%H%M}" == f"{last:%Y%m%d%H%M}":  # one round
        return f"at {first:%H:%M} UTC on {human_day(first)}"
    if first.date() == last.date():
        return f"from {first:%H:%M} to {last:%H:%M} UTC on {human_day(first)}"
    return f"from {human_day(first)}, {first:%H:%M} to {human_day(last)}, {last:%H:%M} UTC"


def episodes_sentence(together: Sequence[Episode]) -> str:
    """One sentence for throttled or blocked episodes of one group that share their
    verdict and their period, as a reader would say it."""
    first = together[0]
    names = [e.shown_target for e in together]
    who = names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"
    who += f" ({first.group})" if first.group else ""
    were = "was" if len(names) == 1 else "were"
    when = human_period(first.start, first.end)
    controls = [c for e in together if (c := e.summary()["controls_bytes_per_second"])]
    beside = f", while the controls got {format_rate(max(controls))}" if controls else ""
    representative = first.representative
    rule = representative.rule if representative is not None else None
    state = shown_state(first.verdict, first.detail, rule)
    if state == SHUTDOWN:
        only = "only domestic services answered (a shutdown or a white list)"
        return f"{who} {were} unreachable {when}: {only}."
    if state == FREEZE:
        return f"{who}: connections froze after a few kilobytes {when}{beside}."
    if first.verdict == VerdictKind.BLOCKED:
        where = _STAGE_WORDS.get(str(first.detail), f"at the {first.detail} stage")
        return f"{who} {were} blocked {where} {when}{beside}."
    rates = sorted(r for e in together if (r := e.summary()["rate_bytes_per_second"]))
    to = ""
    if rates:
        to = f" to about {_rate_range(rates[0], rates[-1])}"
    how = f" ({first.detail})" if first.detail else ""
    return f"{who} {were} throttled{how}{to} {when}{beside}."


def summary_paragraph(episodes: Sequence[Episode], states: Sequence[StateEpisode]) -> str:
    """The report in a few sentences: the network's bad stretches, then every target's."""
    sentences = [
        f"The network was {_NETWORK_WORDS.get(stretch.state, stretch.state)} "
        f"{human_period(stretch.start, stretch.end)}."
        for stretch in states
        if stretch.subject == NETWORK and not stretch.usual
    ]
    alarming = (VerdictKind.THROTTLED, VerdictKind.BLOCKED)
    together: dict[tuple[str, str, str, str], list[Episode]] = {}
    for episode in (e for e in episodes if e.verdict in alarming):
        rule = episode.representative.rule if episode.representative else None
        state = shown_state(episode.verdict, episode.detail, rule)  # a shutdown apart
        key = (episode.group, f"{episode.label} {state}", episode.start, episode.end)
        together.setdefault(key, []).append(episode)
    sentences += [episodes_sentence(group) for group in together.values()]
    if len(sentences) == 0:
        return (
            "No target was throttled or blocked in this period: each read like the "
            "controls measured beside it."
        )
    return " ".join(sentences)


def _rate_range(low: float, high: float) -> str:
    """ "122-132 kbit/s", "900 kbit/s-1.2 Mbit/s", or one rate when they read the same."""
    first, last = format_rate(low), format_rate(high)
    if first == last:
        return first
    number, unit = first.split(" ")
    return f"{number}-{last}" if last.endswith(f" {unit}") else f"{first}-{last}"
