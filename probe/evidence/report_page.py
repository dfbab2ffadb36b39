"""``report --html FILE``: one self-contained page a journalist can publish as it is.

It reads top down as a reader asks: who measured, when, what happened (in
plain words), each target's state over the period, then each episode with
its reason, its figures, one representative round against a control and the
round ids that the archive and ``/rounds/ID`` hold, then the network's and
the controls' own states, and the method with its public sources.

Everything is inside the file: the pictures are inline PNGs, the style and
the one line of script are inline, and a Content-Security-Policy forbids the
page any request at all (its links to the sources are for the reader to
follow). It prints on A4 without cut tables. matplotlib (the ``plot``
extra) draws the pictures (``report_pictures``).
"""

import base64
import datetime
import html

from probe import __version__
from probe.evidence.episodes import Episode
from probe.evidence.report import Report
from probe.evidence.report_pictures import groups_png, round_png, timeline_png
from probe.evidence.state_episodes import StateEpisode
from probe.evidence.story import human_period, moment, probe_of, summary_paragraph
from probe.records import VerdictKind
from probe.units import format_rate

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
# Text colours, each at least 4.5:1 against the white page (WCAG AA; tests/test_report.py).
TEXT, MUTED, ALARM, WARN, INFO = "#222222", "#555555", "#b00000", "#8a4b00", "#0b4f9c"
SOURCES = (
    ("OONI's Web Connectivity test", "https://ooni.org/nettest/web-connectivity/"),
    ("Wehe, the differentiation test", "https://wehe.meddle.mobi/"),
    ("Censored Planet on the 2021 throttling of Twitter", "https://censoredplanet.org/throttling"),
)
METHOD = """Each round downloads every target and every control at the same time, so
that they share the network's conditions. A target is <b>throttled</b> when it is
10 times slower than every healthy control (OONI's threshold) and Wehe's test agrees
(the area between the two throughput distributions is at least half the faster
mean, and a two-sample Kolmogorov-Smirnov test gives p &lt; 0.01), or when it loses
packets of its own at random while the controls do not; the mechanism is
<b>policing</b> when the client sees loss without a queue, <b>shaping</b> when
in-band RTT probes see a queue of its own (after Flach et al., <i>An Internet-Wide
Analysis of Traffic Policing</i>, SIGCOMM 2016), and <b>loss</b> for random loss.
<b>Blocked</b> means it fails at a stage while the controls work (<b>freeze</b>:
the connection stopped dead after a few kilobytes; <b>shutdown</b>: only domestic
services answered); <b>degraded</b> means the controls suffer too, so nothing is
said about the target; <b>platform_refused</b> means the platform's own server
answered with an HTTP error over TLS whose certificate was verified. Episodes
follow the verdict over a window of rounds, which pools several rounds' samples,
so one bad round neither raises nor hides an alarm."""


def render(report: Report, made_at: datetime.datetime | None = None) -> str:
    """The page, as text (``made_at``: when it says it was made; now by default)."""
    made = (made_at or datetime.datetime.now(datetime.UTC)).strftime("%Y-%m-%d %H:%M UTC")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,">
<title>throttle-probe report</title>
<style>{_STYLE}</style></head>
<body>
<h1>Throttling and blocking, as measured</h1>
<p class="who">{_scope(report)}</p>
<p class="summary">{html.escape(summary_paragraph(report.episodes, report.states))}</p>
{_timeline(report)}
<h2>Episodes</h2>
{_episodes_table(report.episodes)}
{_episode_sections(report)}
{_states_table(report.states)}
{_locations(report)}
{_groups(report)}
{_reanalysis(report)}
<h2>Method</h2>
<p>{METHOD}</p>
<p>Sources: {_sources()}.</p>
<p class="muted">Made by throttle-probe {html.escape(__version__)} on {made}. Every time
on this page is UTC.</p>
<script>
window.addEventListener("load", function () {{
  var images = Array.from(document.images);
  var ok = images.every(function (i) {{ return i.complete && i.naturalWidth > 0; }});
  document.body.dataset.images = (ok ? "loaded " : "broken ") + images.length;
  var wide = document.documentElement.scrollWidth > window.innerWidth;
  document.body.dataset.fits = wide ? "scrolls" : "fits";
}});
</script>
</body></html>
"""


_STYLE = f"""
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; padding: 0 1em;
  color: {TEXT}; line-height: 1.4; }}
table {{ border-collapse: collapse; width: 100%; }}
td, th {{ border: 1px solid #ccc; padding: 0.3em 0.5em; text-align: left;
  overflow-wrap: anywhere; }}
.throttled, .blocked, .alarm {{ color: {ALARM}; font-weight: bold; }}
.degraded, .inconclusive {{ color: {WARN}; }} .platform_refused {{ color: {INFO}; }}
.muted {{ color: {MUTED}; }} .summary {{ font-size: 1.1em; }}
img {{ max-width: 100%; height: auto; }}
section.episode {{ border-top: 1px solid #ccc; margin-top: 1.5em; }}
@page {{ size: A4; margin: 15mm; }}
@media print {{
  body {{ max-width: none; margin: 0; font-size: 10pt; }}
  tr, img, section.episode {{ break-inside: avoid; }}
  thead {{ display: table-header-group; }}
}}
"""


def _scope(report: Report) -> str:
    if not report.entries:
        return "No round in the chosen period."
    first, last = report.entries[0].started_at, report.entries[-1].finished_at
    return html.escape(
        f"Measured by {probe_of(report.entries).text()} {human_period(first, last)}: "
        f"{len(report.entries)} rounds."
    )


def _timeline(report: Report) -> str:
    picture = timeline_png(report.entries)
    if picture is None:
        return ""
    return "<h2>Each target over time</h2>\n" + _image(
        picture, "each target's verdict round by round, in colours the picture's legend names"
    )


def _short(iso: str) -> str:
    return f"{moment(iso):%Y-%m-%d %H:%M}"


def _episodes_table(found: list[Episode]) -> str:
    if not found:
        return "<p>No episode.</p>"
    rows = [
        "<thead><tr><th>target</th><th>verdict</th><th>from (UTC)</th><th>to (UTC)</th>"
        "<th>rounds</th><th>rate</th><th>controls</th></tr></thead>"
    ]
    for episode in found:
        summary = episode.summary()
        rows.append(
            f"<tr><td>{html.escape(episode.shown_target)}</td>"
            f'<td class="{html.escape(episode.verdict)}">{html.escape(episode.label)}</td>'
            f"<td>{_short(episode.start)}</td><td>{_short(episode.end)}</td>"
            f"<td>{episode.rounds}</td>"
            f"<td>{format_rate(summary['rate_bytes_per_second'])}</td>"
            f"<td>{format_rate(summary['controls_bytes_per_second'])}</td></tr>"
        )
    return "<table>" + "\n".join(rows) + "</table>"


def _episode_sections(report: Report) -> str:
    """A section for every episode that is not ``ok``: what a reader checks."""
    shown = [e for e in report.episodes if e.verdict != VerdictKind.OK]
    if not shown:
        return ""
    return "<h2>What happened, episode by episode</h2>\n" + "\n".join(
        _episode_section(report, episode) for episode in shown
    )


def _episode_section(report: Report, episode: Episode) -> str:
    summary, verdict = episode.summary(), episode.representative
    figures = [
        ("verdict", episode.label),
        ("when", human_period(episode.start, episode.end)),
        ("rounds", str(episode.rounds)),
        ("rate (median)", format_rate(summary["rate_bytes_per_second"])),
        ("the controls (median)", format_rate(summary["controls_bytes_per_second"])),
    ]
    ratio = summary["ratio_to_controls"]
    if ratio is not None:
        figures.append(("slower than the slowest control", f"{ratio:.1f}x"))
    wehe = verdict.evidence.wehe if verdict is not None else None
    if wehe is not None:
        tests = f"area {wehe.area:.0%}, KS p={wehe.p_value:.1g}: {wehe.decision}"
        figures.append(("Wehe's tests", tests))
    if verdict is not None and verdict.rule is not None:
        figures.append(("decided by", str(verdict.rule)))
    ids = episode.round_ids
    figures.append(("rounds' ids", ids[0] if len(ids) == 1 else f"{ids[0]} to {ids[-1]}"))
    rows = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in figures)
    reason = html.escape(verdict.reason) if verdict is not None else ""
    return (
        f'<section class="episode"><h3>{html.escape(episode.shown_target)}: '
        f'<span class="{html.escape(episode.verdict)}">{html.escape(episode.label)}</span>'
        f"</h3>\n<p>{reason}</p>\n<table>{rows}</table>\n"
        f"{_representative(report, episode)}</section>"
    )


def _representative(report: Report, episode: Episode) -> str:
    """The episode's middle round: the target's download against the slowest control's."""
    entry = next((e for e in report.entries if e.round_id == episode.representative_round), None)
    if entry is None:
        return ""
    picture = round_png(entry, episode.target, episode.transport)
    said = f"Round {html.escape(entry.round_id)}, {_short(entry.started_at)} UTC"
    if picture is None:
        mine = next(
            (e for e in entry.entries_over(episode.transport) if e.name == episode.target), None
        )
        failed = f"it failed: {mine.failure}" if mine and mine.failure else "no download to draw"
        return f'<p class="muted">{said}: {html.escape(failed)}.</p>'
    alt = f"{episode.target}'s download in round {entry.round_id} against the slowest control"
    return f'<p class="muted">{said}:</p>\n' + _image(picture, alt)


def _states_table(states: list[StateEpisode]) -> str:
    if not states:
        return ""
    rows = [
        "<thead><tr><th>subject</th><th>state</th><th>from (UTC)</th><th>to (UTC)</th>"
        "<th>rounds</th><th>rounds' ids</th></tr></thead>"
    ]
    for stretch in states:
        tone = "" if stretch.usual else ' class="alarm"'
        ids = stretch.round_ids
        shown_ids = ids[0] if len(ids) == 1 else f"{ids[0]} to {ids[-1]}"
        rows.append(
            f"<tr><td>{html.escape(stretch.subject)}</td>"
            f"<td{tone}>{html.escape(stretch.state)}</td>"
            f"<td>{_short(stretch.start)}</td><td>{_short(stretch.end)}</td>"
            f"<td>{stretch.rounds}</td><td>{html.escape(shown_ids)}</td></tr>"
        )
    return (
        "<h2>The network, the controls and the checks</h2>\n<p>The network's state "
        "(<b>domestic_only</b>: only domestic services answered, a shutdown or a white "
        "list), each control's own (<b>freeze</b>: its download stopped dead, as foreign "
        "hosting did in Russia in 2025), the ECH check's verdict and the taint check's.</p>"
        "\n<table>" + "\n".join(rows) + "</table>"
    )


def _locations(report: Report) -> str:
    """Where the equipment acts: each located name's latest location."""
    if not report.locations:
        return ""
    rows = ["<thead><tr><th>target</th><th>finding</th><th>hop</th><th>what was seen</th>"]
    rows[0] += "<th>what gets past it</th><th>round</th></tr></thead>"
    for located in report.locations:
        outcome = located.outcome
        hop = "" if outcome.hop is None else str(outcome.hop)
        rows.append(
            f"<tr><td>{html.escape(outcome.target or outcome.name)}</td>"
            f"<td>{html.escape(outcome.finding.value)}</td><td>{hop}</td>"
            f"<td>{html.escape(outcome.sentence)}</td>"
            f"<td>{html.escape(located.getting_past)}</td>"
            f"<td>{_short(located.started_at)} ({html.escape(located.round_id)})</td></tr>"
        )
    return (
        "<h2>Where the equipment acts</h2>\n<p>Each target's latest location by the daemon "
        "(<code>daemon.locate</code>): ClientHellos with a rising TTL beside a control name, "
        "and for a throttle, sessions to the replay server after them; with "
        "<code>daemon.evasions</code>, the evasions that restored the rate in every direction "
        "held down (docs/locate.md).</p>\n<table>" + "\n".join(rows) + "</table>"
    )


def _groups(report: Report) -> str:
    pictures = groups_png(report.entries)
    if not pictures:
        return ""
    return "<h2>Rates over the period</h2>\n" + "".join(
        _image(png, f"{group} against the controls") for group, png in pictures.items()
    )


def _reanalysis(report: Report) -> str:
    if report.reanalysed is None:
        return ""
    if not report.differences:
        return (
            f"<h2>Judged again</h2><p>{report.reanalysed} rounds judged again with this "
            "version: every verdict stands.</p>"
        )
    rows = "".join(
        f"<tr><td>{_short(d.started_at)}</td><td>{html.escape(d.target)}</td>"
        f"<td>{html.escape(d.recorded)}</td><td>{html.escape(d.now)}</td></tr>"
        for d in report.differences
    )
    return (
        f"<h2>Judged again</h2><p>{report.reanalysed} rounds judged again with this version; "
        f"{len(report.differences)} verdicts differ:</p><table><thead><tr><th>round</th>"
        f"<th>target</th><th>archived</th><th>now</th></tr></thead>{rows}</table>"
    )


def _sources() -> str:
    return ", ".join(
        f'<a href="{html.escape(url)}">{html.escape(title)}</a>' for title, url in SOURCES
    )


def _image(png: bytes, alt: str) -> str:
    encoded = base64.b64encode(png).decode()
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{encoded}">\n'
