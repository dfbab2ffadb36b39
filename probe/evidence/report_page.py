"""``report --html FILE``: one self-contained page for people who do not run Grafana.

Everything is inside the file: the pictures are inline PNGs, the style and
the one line of script are inline, and a Content-Security-Policy forbids the
page any request at all. matplotlib (the ``plot`` extra) draws the pictures
and is imported only here.
"""

import base64
import datetime
import html
import io
from collections import defaultdict
from typing import Any

from probe import __version__
from probe.evidence.episodes import Episode
from probe.evidence.report import Report
from probe.evidence.state_episodes import StateEpisode
from probe.records import Role, Transport
from probe.sinks.plot import pyplot
from probe.units import format_rate

POLICY = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
METHOD = """Each round downloads every target and every control at the same time, so
that they share the network's conditions. A target is <b>throttled</b> when it
is 10 times slower than every healthy control (OONI's threshold) and Wehe's test
agrees (the area between the two throughput distributions is at least half the
faster mean, and a two-sample Kolmogorov-Smirnov test gives p &lt; 0.01); the
mechanism is <b>policing</b> when the client sees loss without a queue, and
<b>shaping</b> when in-band RTT probes see a queue of its own (Flach et al.).
<b>Blocked</b> means it fails at a stage while the controls work; <b>degraded</b>
means the controls suffer too, so nothing is said about the target;
<b>platform_refused</b> means the platform's own server answered with an HTTP
error or a redirect, over TLS whose certificate was verified: its decision,
which no device on the path can forge, not censorship by the network. Episodes
below follow the verdict over a window of rounds, which pools the samples of
several rounds, so one bad round neither raises nor hides an alarm."""


def render(report: Report) -> str:
    """The page, as text."""
    pictures = "".join(_picture(group, figure) for group, figure in _figures(report).items())
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{POLICY}">
<link rel="icon" href="data:,">
<title>throttle-probe report</title>
<style>
body {{ font-family: sans-serif; max-width: 60em; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 0.3em 0.6em; }}
.throttled, .blocked {{ color: #b00; font-weight: bold; }} .degraded {{ color: #a60; }}
.platform_refused {{ color: #04a; }}
img {{ max-width: 100%; }}
</style></head>
<body>
<h1>Throttling and blocking, as measured</h1>
<p>{_scope(report)}</p>
<h2>Episodes</h2>
{_episodes_table(report.episodes)}
{_states_table(report.states)}
<h2>Throughput of targets against controls</h2>
{pictures or "<p>No round with a measured goodput.</p>"}
{_reanalysis(report)}
<h2>Method</h2>
<p>{METHOD}</p>
<p>Made by throttle-probe {html.escape(__version__)} on {_now()}.</p>
<script>
window.addEventListener("load", function () {{
  var images = Array.from(document.images);
  var ok = images.every(function (i) {{ return i.complete && i.naturalWidth > 0; }});
  document.body.dataset.images = (ok ? "loaded " : "broken ") + images.length;
}});
</script>
</body></html>
"""


def _scope(report: Report) -> str:
    if not report.entries:
        return "No round in the chosen period."
    probes = sorted({str(e.identity.get("id") or "unnamed") for e in report.entries})
    first, last = report.entries[0].started_at, report.entries[-1].finished_at
    return (
        f"{len(report.entries)} rounds from {html.escape(first)} to {html.escape(last)}, "
        f"by the probe{'s' if len(probes) > 1 else ''} {html.escape(', '.join(probes))}."
    )


def _episodes_table(found: list[Episode]) -> str:
    if not found:
        return "<p>No episode.</p>"
    rows = [
        "<tr><th>target</th><th>verdict</th><th>from</th><th>to</th><th>rounds</th>"
        "<th>rate</th><th>controls</th></tr>"
    ]
    for episode in found:
        summary = episode.summary()
        rows.append(
            f"<tr><td>{html.escape(episode.shown_target)}</td>"
            f'<td class="{html.escape(episode.verdict)}">{html.escape(episode.label)}</td>'
            f"<td>{html.escape(episode.start)}</td><td>{html.escape(episode.end)}</td>"
            f"<td>{episode.rounds}</td>"
            f"<td>{format_rate(summary['rate_bytes_per_second'])}</td>"
            f"<td>{format_rate(summary['controls_bytes_per_second'])}</td></tr>"
        )
    return "<table>" + "\n".join(rows) + "</table>"


def _states_table(states: list[StateEpisode]) -> str:
    if not states:
        return ""
    rows = [
        "<tr><th>subject</th><th>state</th><th>from</th><th>to</th><th>rounds</th>"
        "<th>rounds' ids</th></tr>"
    ]
    for stretch in states:
        tone = "" if stretch.usual else ' class="blocked"'
        ids = (
            stretch.round_ids[0]
            if stretch.rounds == 1
            else (f"{stretch.round_ids[0]} ... {stretch.round_ids[-1]}")
        )
        rows.append(
            f"<tr><td>{html.escape(stretch.subject)}</td>"
            f"<td{tone}>{html.escape(stretch.state)}</td>"
            f"<td>{html.escape(stretch.start)}</td><td>{html.escape(stretch.end)}</td>"
            f"<td>{stretch.rounds}</td><td>{html.escape(ids)}</td></tr>"
        )
    return (
        "<h2>The network, the controls and the checks</h2>\n<p>The network's state "
        "(<b>domestic_only</b>: only domestic services answered, a shutdown or a white "
        "list), each control's own (<b>freeze</b>: its download stopped dead, as foreign "
        "hosting did in Russia in 2025), the ECH check's verdict and the taint check's.</p>"
        "\n<table>" + "\n".join(rows) + "</table>"
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
        f"<tr><td>{html.escape(d.started_at)}</td><td>{html.escape(d.target)}</td>"
        f"<td>{html.escape(d.recorded)}</td><td>{html.escape(d.now)}</td></tr>"
        for d in report.differences
    )
    return (
        f"<h2>Judged again</h2><p>{report.reanalysed} rounds judged again with this version; "
        f"{len(report.differences)} verdicts differ:</p><table><tr><th>round</th>"
        f"<th>target</th><th>archived</th><th>now</th></tr>{rows}</table>"
    )


def _figures(report: Report) -> dict[str, bytes]:
    """One PNG per target group: its targets (solid) against the controls (dashed)."""
    series: dict[tuple[str, str, bool], list[tuple[datetime.datetime, float]]] = defaultdict(list)
    for entry in report.entries:
        when = datetime.datetime.fromisoformat(entry.started_at)
        for target in entry.entries_over(Transport.TCP):
            rate = target.goodput_bytes_per_second
            if rate is None or target.failure is not None:
                continue
            control = target.role == Role.CONTROL
            if target.role in (Role.TARGET, Role.CONTROL):
                series[(target.group, target.name, control)].append((when, rate * 8))
    groups = sorted({group for group, _, control in series if not control})
    controls = {k: v for k, v in series.items() if k[2]}
    return {group: _draw(group, series, controls) for group in groups}


def _draw(group: str, series: dict[Any, Any], controls: dict[Any, Any]) -> bytes:
    plt = pyplot()
    figure, axis = plt.subplots(figsize=(9, 3.2))
    for (series_group, name, _), points in series.items():
        if series_group == group and (group, name, False) in series:
            axis.plot(*zip(*points, strict=True), "-", marker=".", label=name)
    for (_, name, _), points in controls.items():
        axis.plot(*zip(*points, strict=True), "--", label=f"{name} (control)")
    axis.set_yscale("log")
    axis.set_ylabel("goodput (bit/s)")
    axis.set_title(f"{group} against the controls")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize="small", loc="best")
    figure.autofmt_xdate()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()


def _picture(group: str, png: bytes) -> str:
    encoded = base64.b64encode(png).decode()
    alt = html.escape(f"{group} against the controls")
    return f'<img alt="{alt}" src="data:image/png;base64,{encoded}">\n'


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
