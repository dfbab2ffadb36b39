"""Rounds on a schedule, in one event loop: ``check`` runs N of them, ``run`` runs them forever.

The runner owns what the two commands share (cloudprober's scheduler and its
run-once): the schedule (an interval from start to start, random jitter, a
round never overlapping the next), the daily data budget, the judging of
each round and of the rolling window of the latest rounds, and the signals.
It hands every finished round to its sinks. The first SIGINT or SIGTERM ends
the round under way through the measurements' own deadlines, so what was
measured is kept and every connection is closed; a second Ctrl-C stops at once.
"""

import asyncio
import contextlib
import logging
import random
import signal
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass

from probe.analysis.compare import Network
from probe.analysis.history import TargetHistory
from probe.analysis.round_judgement import RoundJudgement, judge_all
from probe.analysis.taint import TaintFindings, judge_retests
from probe.analysis.target_verdict import Controls, Verdict, round_controls
from probe.analysis.window_verdict import judge_window
from probe.budget import DataBudget
from probe.config import Config
from probe.locator import DailyLocator
from probe.measure.http3_offers import Http3Offers
from probe.measure.jobs import ProgressListener
from probe.measure.round import measure_round
from probe.measure.taint import retest_taint
from probe.measure.timing import Interrupt
from probe.records import (
    SWAP_BASELINE,
    RoundResult,
    TaintRetest,
    TaintRetests,
    Transport,
    TtlWalk,
)
from probe.schema import FinishedRound
from probe.sinks import OutputError, Sink
from probe.units import format_bytes, format_duration, format_rate

log = logging.getLogger("throttle-probe")


@dataclass(frozen=True)
class Schedule:
    rounds: int | None = 1  # None: until stopped
    interval: float = 30.0  # seconds from the start of one round to the start of the next
    jitter: float = 0.0  # up to this many seconds added at random to each wait
    window: int = 1  # rounds in the rolling window verdict


ProgressFactory = Callable[[Config], AbstractContextManager[ProgressListener]]


class Runner:
    """Measures rounds of ``config`` on ``schedule`` and feeds ``sinks``.

    ``on_hangup`` is called on SIGHUP (the daemon reloads its targets file
    and calls ``replace``). ``progress`` gives a listener for each round (the
    terminal's progress bars).
    """

    def __init__(
        self,
        config: Config,
        replay_secret: bytes | None,
        schedule: Schedule,
        sinks: Sequence[Sink],
        *,
        budget: DataBudget | None = None,
        progress: ProgressFactory | None = None,
        on_hangup: Callable[[], None] | None = None,
    ) -> None:
        self.config = config
        self.replay_secret = replay_secret
        self.schedule = schedule
        self.sinks = list(sinks)
        self.budget = budget
        self._progress = progress
        self.on_hangup = on_hangup
        self.recent: deque[FinishedRound] = deque(maxlen=schedule.window)
        self.history = TargetHistory()  # each target's clean rounds: its baseline
        self.quic_history = TargetHistory()  # the same over QUIC
        self.offers = Http3Offers()  # which servers offered HTTP/3, across rounds
        self._interrupt = Interrupt()
        self._stopping = asyncio.Event()
        self._random = random.Random()
        self._paced_said = 0.0  # the stretched interval last logged (said again on a change)
        self._retests: TaintRetests | None = None  # for the next round to carry
        self._locator = DailyLocator()
        self._located: list[TtlWalk] = []  # ... and the targets located since
        self._stopped_early = False

    @property
    def stopped_early(self) -> bool:
        """The run was stopped before its schedule's rounds were all measured.

        Stopped between rounds, the rounds already handed to the sinks keep
        their word (none of them was cut short); stopped during one, that round
        says ``interrupted`` itself.
        """
        return self._stopped_early

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def replace(self, config: Config, replay_secret: bytes | None, schedule: Schedule) -> None:
        """Measure ``config`` from the next round on (the round under way keeps its own)."""
        self.config, self.replay_secret, self.schedule = config, replay_secret, schedule
        if self.recent.maxlen != schedule.window:
            self.recent = deque(self.recent, maxlen=schedule.window)

    def stop(self) -> None:
        """End the round under way (keeping what it measured) and the run."""
        self._stopping.set()
        self._interrupt.request()

    async def run(self) -> None:
        """Rounds until the schedule's count is reached or ``stop``; then close the sinks."""
        with self._signals():
            try:
                await self._rounds()
            finally:
                for sink in self.sinks:
                    sink.close()

    async def _rounds(self) -> None:
        loop = asyncio.get_running_loop()
        number, next_start = 0, loop.time()
        while self.schedule.rounds is None or number < self.schedule.rounds:
            await self._sleep(next_start - loop.time())
            await self._wait_for_budget()
            if self.stopping:  # stopped between rounds: the rounds kept stay as they were
                self._stopped_early = True
                return
            started = loop.time()
            number += 1
            finished = await self._guarded_round(number)
            if finished is None:  # a bug, logged: the daemon goes on with the next round
                next_start = started + self.schedule.interval
                continue
            if finished.result.interrupted:
                self._stopped_early = True
                return
            next_start = started + self._wait_after(finished.result)
            self._retests = await self._guarded_retests(finished, next_start)
            self._located = await self._guarded_locate(finished)

    async def _guarded_round(self, number: int) -> FinishedRound | None:
        """The round; a run without end survives an unexpected error in one round.

        Measurements record their failures as data, so an exception here is a
        bug. ``check`` lets it surface; a daemon meant to run for months logs
        it with its traceback and carries on (the stale-probe alert sees the
        rounds that do not finish).
        """
        if self.schedule.rounds is not None:
            return await self._round(number)
        try:
            return await self._round(number)
        except OutputError as error:  # a full disk: one line, not a traceback a round
            log.error("round %d: %s", number, error)
            return None
        except Exception:
            log.exception("round %d failed; the next round follows on schedule", number)
            return None

    async def _round(self, number: int) -> FinishedRound:
        config, secret = self.config, self.replay_secret
        log.info("round %d: measuring %d targets", number, len(config.targets()))
        progress = self._progress(config) if self._progress else contextlib.nullcontext(None)
        with progress as listener:
            result = await measure_round(config, listener, self._interrupt, secret, self.offers)
        result.taint_retests, self._retests = self._retests, None
        result.locate, self._located = self._located, []
        if self.budget is not None:
            self.budget.add(result.bytes_transferred)
        finished = self._judge(number, result, config)
        log.info(
            "round %d: done, %s received; %s",
            number,
            format_bytes(result.bytes_transferred),
            _verdict_summary(finished),
        )
        for sink in self.sinks:
            sink.round_finished(finished)
        return finished

    def _judge(self, number: int, result: RoundResult, config: Config) -> FinishedRound:
        control_name = config.replay.control_name if config.replay is not None else ""
        judgement = judge_all(result, control_name)
        # The window: the latest rounds, this one included (``recent`` holds one fewer).
        judged = [*((r.result, r.judgement) for r in self.recent), (result, judgement)]
        judged = judged[-self.schedule.window :]
        window = self._window(judged, Transport.TCP, self.history)
        quic_window = self._window(judged, Transport.QUIC, self.quic_history)
        finished = FinishedRound(
            number, result, judgement, window, len(judged), config, quic_window
        )
        self.recent.append(finished)
        return finished

    @staticmethod
    def _window(
        judged: Sequence[tuple[RoundResult, RoundJudgement]],
        transport: Transport,
        history: TargetHistory,
    ) -> dict[str, Verdict]:
        """The window's verdicts over one transport, and the latest round into its history."""
        rounds = [result.on_transport(transport) for result, _ in judged]
        verdicts = [judgement.on(transport) for _, judgement in judged]
        if not verdicts[-1]:  # nothing went over it this round (QUIC not offered)
            return {}
        controls = [
            _controls_on(judgement, transport) or round_controls(result)
            for result, (_, judgement) in zip(rounds, judged, strict=True)
        ]
        window = judge_window(rounds, verdicts, controls, history)
        history.observe(
            rounds[-1],
            {name: v.verdict for name, v in verdicts[-1].items()},
            {name: v.verdict for name, v in window.items()},
            controls[-1].network == Network.HEALTHY,
        )
        return window

    async def _guarded_retests(
        self, finished: FinishedRound, next_start: float
    ) -> TaintRetests | None:
        """The taint re-tests; as a round's, an unexpected error in them is logged and the
        daemon goes on (they record their failures as data: an exception is a bug)."""
        try:
            return await self._retest_taint(finished, next_start)
        except Exception:
            log.exception(
                "round %d's taint re-tests failed; the next round follows", finished.number
            )
            return None

    async def _guarded_locate(self, finished: FinishedRound) -> list[TtlWalk]:
        """``daemon.locate`` in a run without end: the targets the window found throttled or
        blocked, located (at most once a day each); an unexpected error is logged."""
        if self.schedule.rounds is not None or not self.config.daemon.locate or self.stopping:
            return []
        try:
            return await self._locator.locate(finished, self.replay_secret)
        except Exception:
            log.exception("locating after round %d failed; the next round follows", finished.number)
            return []

    async def _retest_taint(
        self, finished: FinishedRound, next_start: float
    ) -> TaintRetests | None:
        """A run without end measures an address the round found tainted again at each of
        ``daemon.taint_retests`` seconds after it, until one reads clean or the next
        round is due: for how long it stays slowed. The next round carries them."""
        delays = sorted(self.config.daemon.taint_retests)
        taint = finished.judgement.found(TaintFindings)
        baseline = next((t for t in finished.result.targets if t.name == SWAP_BASELINE), None)
        if self.schedule.rounds is not None or not delays or baseline is None:
            return None
        if taint is None or taint.outcome is None or not taint.outcome.tainted:
            return None
        loop = asyncio.get_running_loop()
        ended, network = loop.time(), finished.judgement.controls.network
        retests = TaintRetests(finished.result.round_id, baseline)
        for delay in delays:
            if ended + delay >= next_start:
                break
            await self._sleep(ended + delay - loop.time())
            if self.stopping:
                break
            measured = await retest_taint(self.config, self._interrupt)
            if measured is None:
                break
            retests.retests.append(TaintRetest(delay, measured))
            latest = judge_retests(retests, network).retests[-1]
            log.info(
                "round %d's tainted address again, %s after: %s (%s)",
                finished.number,
                format_duration(delay),
                latest.failure or format_rate(latest.goodput_bytes_per_second),
                latest.state,
            )
            if not latest.tainted:
                break
        return retests if retests.retests else None

    def _wait_after(self, result: RoundResult) -> float:
        """Seconds from this round's start to the next's: the interval, paced, with jitter."""
        interval = self.schedule.interval
        if self.budget is not None:
            paced = self.budget.paced_interval(interval, result.bytes_transferred)
            if paced > interval and abs(paced - self._paced_said) > 0.1 * paced:
                log.info("the data budget stretches the interval to %.0f s", paced)
                self._paced_said = paced
            interval = paced
        return interval + self._random.uniform(0, self.schedule.jitter)

    async def _wait_for_budget(self) -> None:
        """Pause until midnight UTC when the next round would overrun today's budget."""
        budget = self.budget
        if budget is None or self.stopping:
            return
        expected = self.recent[-1].result.bytes_transferred if self.recent else 0
        if budget.spent + expected <= budget.daily_bytes:
            return
        seconds = budget.seconds_until_reset()
        log.warning(
            "the daily data budget is spent (%s of %s): measuring pauses for %.0f s, "
            "until midnight UTC",
            format_bytes(budget.spent),
            format_bytes(budget.daily_bytes),
            seconds,
        )
        budget.paused = True
        try:
            await self._sleep(seconds)
        finally:
            budget.paused = False

    async def _sleep(self, seconds: float) -> None:
        """Wait ``seconds``, or less if the run is stopped meanwhile."""
        if seconds > 0 and not self.stopping:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), seconds)

    @contextlib.contextmanager
    def _signals(self) -> Iterator[None]:
        loop = asyncio.get_running_loop()

        def on_stop(signum: int) -> None:
            log.info("%s: stopping", signal.Signals(signum).name)
            self.stop()
            if signum == signal.SIGINT:
                loop.remove_signal_handler(signal.SIGINT)  # a second Ctrl-C stops at once

        handled = [signal.SIGINT, signal.SIGTERM]
        for signum in handled:
            loop.add_signal_handler(signum, on_stop, signum)
        if self.on_hangup is not None:
            loop.add_signal_handler(signal.SIGHUP, self.on_hangup)
            handled.append(signal.SIGHUP)
        try:
            yield
        finally:
            for signum in handled:
                loop.remove_signal_handler(signum)


def _controls_on(judgement: RoundJudgement, transport: Transport) -> Controls | None:
    return judgement.quic_controls if transport == Transport.QUIC else judgement.controls


def _verdict_summary(finished: FinishedRound) -> str:
    verdicts = finished.judgement.verdicts
    if not verdicts:
        return "no targets judged"
    return ", ".join(f"{name} {verdict.verdict}" for name, verdict in verdicts.items())
