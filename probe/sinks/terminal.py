"""The terminal front end of ``check``: live download progress and result tables."""

import time
from collections import deque
from collections.abc import Sequence
from typing import TYPE_CHECKING

from rich.console import Console, JustifyMethod
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table
from rich.text import Text

from probe.analysis.control_state import failed_controls_sentence
from probe.analysis.kind import Cell, Shown, Tone
from probe.analysis.reachability import network_unavailable
from probe.analysis.round_judgement import RoundJudgement
from probe.analysis.target_verdict import Verdict
from probe.measure.freeze import freeze_point
from probe.records import (
    DnsRecord,
    Failure,
    NetworkState,
    ReplayRecord,
    Role,
    RoundResult,
    TargetResult,
    TransferRecord,
    Transport,
    VerdictKind,
)
from probe.schema import FinishedRound
from probe.sinks import OutputError
from probe.units import format_bytes, format_ms, format_rate
from probe.wording import os_reason

if TYPE_CHECKING:
    from probe.evidence.report import Report


class TerminalSink:
    """Tables on standard output once the run is over."""

    def __init__(self) -> None:
        self._finished: list[FinishedRound] = []

    def round_finished(self, finished: FinishedRound) -> None:
        self._finished.append(finished)

    def close(self) -> None:
        rounds = self._finished
        if not rounds or all(network_unavailable(f.result) for f in rounds):
            return  # nothing to show: the command says why
        console = stdout_console()
        try:
            if len(rounds) == 1:
                render_round(console, rounds[0].result, rounds[0].judgement)
            else:
                render_window(console, rounds)
            console.file.flush()
        except OSError as error:
            raise OutputError(f"Cannot write the results: {os_reason(error)}.") from None


class RateMeter:
    """The rate over the last ``window`` seconds, falling to zero when bytes stop coming.

    rich's own speed estimate only moves when the progress is updated, so a
    stalled download would keep showing its last rate; this one is read at
    every redraw.
    """

    def __init__(self, window: float = 2.0) -> None:
        self.window = window
        self._points: deque[tuple[float, int]] = deque()

    def add(self, now: float, total: int) -> None:
        self._points.append((now, total))
        self._forget_before(now)

    def bytes_per_second(self, now: float) -> float:
        self._forget_before(now)
        if len(self._points) < 2:
            return 0.0
        (oldest_time, oldest_bytes), (_, newest_bytes) = self._points[0], self._points[-1]
        span = now - oldest_time
        return (newest_bytes - oldest_bytes) / span if span > 0 else 0.0

    def _forget_before(self, now: float) -> None:
        while len(self._points) > 1 and self._points[0][0] < now - self.window:
            self._points.popleft()
        if self._points and self._points[-1][0] < now - self.window:
            self._points.clear()  # nothing within the window: the download is idle


class _RateColumn(ProgressColumn):
    """The current rate in bit/s, as networks are measured (rich's column counts bytes)."""

    def __init__(self, meters: dict[TaskID, RateMeter]) -> None:
        super().__init__()
        self._meters = meters

    def render(self, task: Task) -> Text:
        meter = self._meters.get(task.id)
        rate = meter.bytes_per_second(time.monotonic()) if meter is not None else 0.0
        return Text(f"{format_rate(rate):>12}", style="progress.data.speed")


class LiveProgress:
    """A progress bar per download (bytes and current rate), on standard error.

    On a terminal the bars redraw in place; elsewhere (a log, CI) each target
    prints one line when it finishes, so long rounds still show progress.
    """

    def __init__(self, console: Console, max_bytes: int) -> None:
        self._console = console
        self._max_bytes = max_bytes
        self._tasks: dict[str, TaskID] = {}
        self._meters: dict[TaskID, RateMeter] = {}
        self._progress = Progress(
            TextColumn("{task.description:<18}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            _RateColumn(self._meters),
            TimeElapsedColumn(),
            console=console,
            transient=True,
            disable=not console.is_terminal,
        )

    def __enter__(self) -> "LiveProgress":
        self._progress.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._progress.stop()

    def target_started(self, name: str, url: str) -> None:
        self._add_task(name, self._max_bytes)

    def replay_started(self, label: str, total: int) -> None:
        self._add_task(label, total)

    def _add_task(self, name: str, total: int) -> None:
        task = self._progress.add_task(name, total=total)
        self._tasks[name] = task
        self._meters[task] = RateMeter()

    def bytes_received(self, name: str, total: int) -> None:
        task = self._tasks[name]
        self._meters[task].add(time.monotonic(), total)
        self._progress.update(task, completed=total)

    def target_finished(self, result: TargetResult) -> None:
        self._finished(result.name, _outcome(result))

    def replay_finished(self, label: str, record: ReplayRecord) -> None:
        failure = f"[red]{record.failure}[/red]" if record.failure else ""
        self._finished(label, failure or f"[green]{record.stop_reason}[/green]")

    def _finished(self, name: str, outcome: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            self._progress.update(task, visible=False)
        if not self._console.is_terminal:
            self._console.print(f"done {name}: {outcome}", highlight=False)


def stdout_console() -> Console:
    """The console for results: as wide as the terminal, or 120 columns in a pipe or log."""
    console = Console()
    return console if console.is_terminal else Console(width=120)


class RoundCounter:
    """ "Round 2 of 5 done." on standard error after each round of a window."""

    def __init__(self, rounds: int, console: Console) -> None:
        self._rounds = rounds
        self._console = console

    def round_finished(self, finished: FinishedRound) -> None:
        line = f"Round {finished.number} of {self._rounds} done."
        self._console.print(line, highlight=False)

    def close(self) -> None:
        pass


def report_tables(console: Console, report: "Report") -> None:
    """``throttle-probe report``: the episodes per target, the network's and the controls'
    states, then the re-analysis."""
    summary = report.document()
    console.print(
        f"{summary['rounds']} rounds from {summary['first_round']} to {summary['last_round']}",
        highlight=False,
    )
    table = Table(title="Episodes (window verdicts)", title_justify="left")
    for column in ("target", "verdict", "from", "to", "rounds", "rate", "controls"):
        table.add_column(column, no_wrap=column != "target")
    for episode in report.episodes:
        row = episode.summary()
        style = _VERDICT_STYLE.get(VerdictKind(episode.verdict), "")
        table.add_row(
            episode.shown_target,
            f"[{style}]{episode.label}[/{style}]",
            episode.start[:19],
            episode.end[:19],
            str(episode.rounds),
            format_rate(row["rate_bytes_per_second"]),
            format_rate(row["controls_bytes_per_second"]),
        )
    console.print(table)
    if report.states:
        console.print(_states_table(report))
    if report.locations:
        console.print(_locations_table(report))
    if report.reanalysed is not None:
        console.print(
            f"Judged again with this version: {report.reanalysed} rounds, "
            f"{len(report.differences)} verdicts differ.",
            highlight=False,
        )
        for difference in report.differences:
            console.print(
                f"  {difference.started_at} {difference.target}: archived "
                f"{difference.recorded}, now {difference.now}",
                highlight=False,
            )


def _states_table(report: "Report") -> Table:
    """The network's, the controls' and the checks' own states over the report's rounds."""
    table = Table(title="The network, the controls and the checks", title_justify="left")
    for column in ("subject", "state", "from", "to", "rounds"):
        table.add_column(column, no_wrap=column != "subject")
    for stretch in report.states:
        style = "green" if stretch.usual else "bold red"
        table.add_row(
            stretch.subject,
            f"[{style}]{stretch.state}[/{style}]",
            stretch.start[:19],
            stretch.end[:19],
            str(stretch.rounds),
        )
    return table


def _locations_table(report: "Report") -> Table:
    """Each located name's latest location."""
    table = Table(title="Where the equipment acts (daemon.locate)", title_justify="left")
    for column in ("target", "finding", "hop", "router", "gets past it", "located in the round of"):
        table.add_column(column, no_wrap=column != "target")
    for located in report.locations:
        outcome = located.outcome
        router = outcome.hop_address or (
            f"after {outcome.previous_address}" if outcome.previous_address else ""
        )
        hop = "" if outcome.hop is None else str(outcome.hop)
        target = outcome.target or outcome.name
        table.add_row(
            target,
            outcome.finding.value,
            hop,
            router,
            located.getting_past,
            located.started_at[:19],
        )
    return table


def render_round(console: Console, result: RoundResult, judgement: RoundJudgement) -> None:
    console.print(dns_table(result.targets))
    console.print(transfer_table(result.targets))
    if result.quic:
        console.print(transfer_table(result.quic, Transport.QUIC))
    for entries in (result.targets, result.quic):
        sentence = failed_controls_sentence(entries)
        if sentence is not None:
            console.print(f"[yellow]{sentence}[/yellow]", highlight=False)
    if result.quic_not_offered:
        names = ", ".join(result.quic_not_offered)
        console.print(f"[dim]HTTP/3 not offered (so not measured over QUIC): {names}[/dim]")
    for findings in judgement.kinds.values():
        shown = findings.shown()
        if shown is not None:
            console.print(shown_table(shown))
            for sentence in shown.sentences:
                console.print(sentence, highlight=False)
    if judgement.network not in (None, NetworkState.HEALTHY):
        line = _NETWORK_LINES[judgement.network]
        console.print(f"[bold yellow]Network: {judgement.network}[/bold yellow] ({line})")
    if judgement.verdicts or judgement.quic:
        console.print(verdict_table(judgement.verdicts, quic=judgement.quic))
    if result.interrupted:
        console.print("[yellow]Interrupted: the figures above are what was measured so far.")


_NETWORK_LINES = {
    NetworkState.LOSSY: "the controls lose packets at random",
    NetworkState.SLOW: "the controls crawl: a slow or congested link",
    NetworkState.FAILING: "most controls fail: the network is failing",
    NetworkState.DOMESTIC_ONLY: (
        "only domestic services answer: a shutdown or a white list, or the international "
        "links are down"
    ),
}


def render_window(console: Console, rounds: Sequence[FinishedRound]) -> None:
    """The last round in full, each round's verdicts, then the verdicts over the window."""
    last = rounds[-1]
    render_round(console, last.result, last.judgement)
    results = [f.result for f in rounds]
    judgements = [f.judgement for f in rounds]
    window = last.window
    table = Table(title="Verdicts per round", title_justify="left")
    table.add_column("target", no_wrap=True)
    for index, result in enumerate(results, start=1):
        table.add_column(f"{index}: {result.started_at[11:19]}", no_wrap=True)
    for transport in Transport:
        for name in last.window_on(transport):
            cells = [_verdict_cell(j.on(transport).get(name)) for j in judgements]
            table.add_row(_label(name, transport, bool(last.quic_window)), *cells)
    console.print(table)
    title = f"Verdicts over the window of {len(results)} rounds"
    console.print(verdict_table(window, title=title, quic=last.quic_window))


def dns_table(targets: Sequence[TargetResult]) -> Table:
    """One row per host, one column per resolver: answers (or the failure) and the time."""
    resolvers = list(dict.fromkeys(r.resolver for t in targets for r in t.dns))
    table = Table(title="DNS", title_justify="left")
    table.add_column("host")
    for name in resolvers:
        table.add_column(name)
    seen: set[str] = set()
    for target in targets:
        host = target.dns[0].hostname if target.dns else None
        if host is None or host in seen:
            continue
        seen.add(host)
        cells = [_dns_cell([r for r in target.dns if r.resolver == name]) for name in resolvers]
        table.add_row(host, *cells)
    return table


def _dns_cell(records: Sequence[DnsRecord]) -> str:
    parts = []
    for record in records:
        took = format_ms(record.t - record.t0)
        if record.failure is not None:
            parts.append(f"[red]{record.failure}[/red] {took}")
        else:
            extra = f" +{len(record.answers) - 1}" if len(record.answers) > 1 else ""
            parts.append(f"{record.answers[0]}{extra} {took}")
    return "\n".join(parts) or "-"


# The set-up phases a transfer table shows, by transport: QUIC's handshake is
# its connect and TLS in one.
_SETUP_PHASES = {
    Transport.TCP: {"connect": "connect", "TLS": "tls"},
    Transport.QUIC: {"handshake": "handshake"},
}


def transfer_table(targets: Sequence[TargetResult], transport: Transport = Transport.TCP) -> Table:
    """One row per target: phase times, goodput, bytes, and how the download ended."""
    title = "Transfers" if transport == Transport.TCP else "Transfers over QUIC (HTTP/3)"
    table = Table(title=title, title_justify="left")
    table.add_column("target", no_wrap=True)
    table.add_column("group", no_wrap=True)
    setup = _SETUP_PHASES[transport]
    for column in (*setup, "1st byte", "goodput", "bytes"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("result", min_width=12)
    for target in targets:
        transfer = target.transfer
        group = target.group if target.role == Role.TARGET else f"[dim]{target.group}[/dim]"
        table.add_row(
            target.name,
            group,
            *(format_ms(_duration(transfer, phase)) for phase in setup.values()),
            format_ms(_duration(transfer, "wait")),
            format_rate(target.goodput_bytes_per_second),
            format_bytes(transfer.bytes) if transfer is not None else "-",
            _outcome(target),
        )
    return table


_VERDICT_STYLE = {
    VerdictKind.OK: "green",
    VerdictKind.THROTTLED: "bold red",
    VerdictKind.BLOCKED: "bold red",
    VerdictKind.DEGRADED: "yellow",
    VerdictKind.INCONCLUSIVE: "yellow",
    VerdictKind.PLATFORM_REFUSED: "blue",
}


def shown_table(shown: Shown) -> Table:
    """What a kind of measurement shows of its findings (``analysis.kind.Shown``)."""
    table = Table(title=shown.title, title_justify="left")
    last = len(shown.columns) - 1
    for index, column in enumerate(shown.columns):
        # The last column (the outcome, with its failure) wraps on a narrow terminal.
        justify: JustifyMethod = "right" if column.numeric else "left"
        table.add_column(column.title, justify=justify, no_wrap=index < last)
    for row in shown.rows:
        table.add_row(*map(_cell, row))
    return table


_TONE_STYLE = {Tone.ALARM: "bold red", Tone.FINE: "green"}


def _cell(cell: Cell) -> Text:
    text = Text(cell.text, style=_TONE_STYLE[cell.tone] if cell.tone else "")
    if cell.aside:
        text.append(f" ({cell.aside})", style="dim")
    return text


def verdict_table(
    verdicts: dict[str, Verdict],
    title: str = "Verdicts",
    quic: dict[str, Verdict] | None = None,
) -> Table:
    """One line per target and transport: the verdict and the reason a person can check."""
    table = Table(title=title, title_justify="left")
    table.add_column("target", no_wrap=True)
    table.add_column("verdict", no_wrap=True)
    table.add_column("why")
    by_transport = {Transport.TCP: verdicts, Transport.QUIC: quic or {}}
    for transport, judged in by_transport.items():
        for name, verdict in judged.items():
            style = _VERDICT_STYLE.get(verdict.verdict, "")
            label = _label(name, transport, bool(quic))
            table.add_row(label, f"[{style}]{verdict.verdict}[/{style}]", verdict.reason)
    return table


def _label(name: str, transport: Transport, both: bool) -> str:
    """A target's name in a verdict table: with its transport once QUIC is there too."""
    return f"{name} [dim]{transport}[/dim]" if both else name


def _verdict_cell(verdict: Verdict | None) -> str:
    if verdict is None:
        return "-"
    style = _VERDICT_STYLE.get(verdict.verdict, "")
    detail = verdict.mechanism or verdict.stage
    text = verdict.verdict + (f"/{detail}" if detail else "")
    return f"[{style}]{text}[/{style}]"


def _duration(transfer: TransferRecord | None, phase_name: str) -> float | None:
    return transfer.duration(phase_name) if transfer is not None else None


def _outcome(target: TargetResult) -> str:
    transfer = target.transfer
    froze = freeze_point(transfer)
    if froze is not None:
        return f"[red]froze at {format_bytes(froze.connection_bytes)}[/red]"
    if target.failure is not None:
        show_status = transfer is not None and target.failure == Failure.HTTP_STATUS
        status = f" {transfer.status}" if show_status and transfer is not None else ""
        return f"[red]{target.failure}{status}[/red]"
    if transfer is None:
        return "-"
    return f"[green]{transfer.stop_reason}[/green]"
