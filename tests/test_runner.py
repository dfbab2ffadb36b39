"""The runner in-process, measuring real servers on loopback: schedule, window, errors."""

import asyncio
import datetime
import logging

import pytest

from probe.config import Config, parse_config
from probe.runner import Runner, Schedule
from probe.schema import FinishedRound
from tests.conftest import Lab


def loopback_config(lab: Lab) -> Config:
    text = lab.config_text(
        {
            "twitter": [("tw", lab.url("pbs.twimg.test", "/bytes/200000"))],
            "control": [("ctl", lab.url("control.test", "/bytes/200000"))],
        }
    )
    return parse_config(text, "targets.yaml")


class Collect:
    """A sink that keeps what it gets, and can stop the runner after ``stop_after`` rounds."""

    def __init__(self, runner_stop_after: int | None = None, fail_on: int | None = None) -> None:
        self.rounds: list[FinishedRound] = []
        self.closed = False
        self.runner: Runner | None = None
        self._stop_after = runner_stop_after
        self._fail_on = fail_on

    def round_finished(self, finished: FinishedRound) -> None:
        if finished.number == self._fail_on:
            raise RuntimeError("a bug in a sink")
        self.rounds.append(finished)
        if self.runner is not None and len(self.rounds) == self._stop_after:
            self.runner.stop()

    def close(self) -> None:
        self.closed = True


def started(finished: FinishedRound) -> float:
    return datetime.datetime.fromisoformat(finished.result.started_at).timestamp()


def test_rounds_keep_the_interval_plus_jitter_and_the_window_rolls(lab: Lab) -> None:
    sink = Collect()
    schedule = Schedule(rounds=4, interval=0.3, jitter=0.2, window=2)

    asyncio.run(Runner(loopback_config(lab), None, schedule, [sink]).run())

    assert [f.number for f in sink.rounds] == [1, 2, 3, 4] and sink.closed
    gaps = [started(b) - started(a) for a, b in zip(sink.rounds, sink.rounds[1:], strict=False)]
    assert all(0.29 <= gap <= 0.55 for gap in gaps), gaps
    assert [f.window_rounds for f in sink.rounds] == [1, 2, 2, 2]
    assert sink.rounds[-1].window["tw"].evidence.rounds == ["ok", "ok"]


def test_a_run_without_end_survives_a_bug_in_one_round(
    lab: Lab, caplog: pytest.LogCaptureFixture
) -> None:
    sink = Collect(runner_stop_after=2, fail_on=1)
    runner = Runner(loopback_config(lab), None, Schedule(rounds=None, interval=0.1), [sink])
    sink.runner = runner

    with caplog.at_level(logging.ERROR, logger="throttle-probe"):
        asyncio.run(runner.run())

    assert [f.number for f in sink.rounds] == [2, 3]
    assert "round 1 failed" in caplog.text and "a bug in a sink" in caplog.text


def test_check_lets_a_bug_surface(lab: Lab) -> None:
    sink = Collect(fail_on=1)

    with pytest.raises(RuntimeError, match="a bug in a sink"):
        asyncio.run(Runner(loopback_config(lab), None, Schedule(rounds=1), [sink]).run())
    assert sink.closed  # the sinks are closed all the same


def test_a_stop_between_rounds_leaves_the_rounds_already_handed_on_as_they_were(lab: Lab) -> None:
    sink = Collect(runner_stop_after=1)
    runner = Runner(loopback_config(lab), None, Schedule(rounds=3, interval=0.2), [sink])
    sink.runner = runner

    asyncio.run(runner.run())

    assert [f.number for f in sink.rounds] == [1] and sink.closed
    # The sinks (the archive among them) already hold the round: it was complete.
    assert sink.rounds[0].result.interrupted is False
    assert runner.stopped_early


def test_a_run_that_measured_all_its_rounds_did_not_stop_early(lab: Lab) -> None:
    runner = Runner(loopback_config(lab), None, Schedule(rounds=1), [Collect()])

    asyncio.run(runner.run())

    assert not runner.stopped_early
