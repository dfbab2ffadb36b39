"""The evasion matrix's ClientHellos and its judge, without a network."""

import asyncio
import itertools
import os
import time
from unittest import mock

import pytest

from probe.analysis.evasion import judge_matrix
from probe.lab.scenarios import ScenarioError, build_plan, parse_composition
from probe.measure.clienthello import RANDOM_SIZE, SESSION_ID_SIZE, fields_of
from probe.measure.evasion import shaper, sni_of
from probe.measure.pacing import Pacer
from probe.measure.replay_session import ReplaySession, replay
from probe.measure.replaywire import CHANGE_CIPHER_SPEC
from probe.measure.timing import Clock
from probe.records import (
    Direction,
    Evasion,
    EvasionMatrix,
    EvasionSession,
    EvasionState,
    Failure,
    ReplayRecord,
    StopReason,
    Variant,
)
from tests.test_server import FAST, SECRET, with_server

NAME = "pbs.twimg.com"


def shaped(evasion: Evasion) -> tuple[bytes, ...]:
    random, session_id = os.urandom(RANDOM_SIZE), os.urandom(SESSION_ID_SIZE)
    hello = shaper(evasion)(sni_of(evasion, NAME), random, session_id)
    record = hello.data.removeprefix(CHANGE_CIPHER_SPEC)
    assert fields_of(record) == (random, session_id)  # the replay server's proof holds
    return hello.segments


def test_each_split_cuts_where_it_says_and_keeps_one_record() -> None:
    header, rest = shaped(Evasion.SPLIT_IN_HEADER)
    before, name_on = shaped(Evasion.SPLIT_BEFORE_NAME)
    half, other_half = shaped(Evasion.SPLIT_IN_NAME)

    assert header == b"\x16\x03" and NAME.encode() in rest
    assert NAME.encode() not in before and name_on.startswith(NAME.encode())
    assert NAME.encode() not in half and NAME.encode() not in other_half
    assert int.from_bytes(rest[1:3], "big") == len(rest) - 3  # one record, its length whole


def test_padding_passes_one_packet_and_the_name_changes_only_where_it_should() -> None:
    (padded,) = shaped(Evasion.PADDED)
    (upper,) = shaped(Evasion.UPPER_CASE)
    (dotted,) = shaped(Evasion.TRAILING_DOT)

    assert len(padded) > 1500 and NAME.encode() in padded
    assert b"PBS.TWIMG.COM" in upper and NAME.encode() not in upper
    assert b"pbs.twimg.com." in dotted
    assert sni_of(Evasion.TRAILING_DOT, "a.test.") == "a.test."


def session(
    direction: Direction, evasion: Evasion | None, kbit: float | None, baseline: bool = False
) -> EvasionSession:
    record = ReplayRecord("s:443", NAME, Variant.PLAIN, direction, 0, 0.0, 0.0)
    record.goodput_bytes_per_second = None if kbit is None else kbit * 125
    return EvasionSession(direction, evasion, record, baseline)


def test_restored_means_not_held_down_against_the_baseline_where_the_plain_was() -> None:
    down, up = Direction.DOWNLOAD, Direction.UPLOAD
    sessions = [
        session(down, None, 900_000, baseline=True),
        session(down, None, 150),
        session(down, Evasion.PADDED, 850_000),
        session(down, Evasion.TRAILING_DOT, 140),
        session(down, Evasion.SPLIT_IN_NAME, None),  # failed where the baseline did not
        EvasionSession(down, Evasion.FAKE, None),  # not sent
        session(up, None, 500_000, baseline=True),
        session(up, None, 480_000),  # not held down: nothing to evade
        session(up, Evasion.PADDED, 490_000),
    ]

    table = judge_matrix(EvasionMatrix(NAME, "s:443", "c", None, sessions))

    assert table.held_down == {down: True, up: False}
    assert table.state(Evasion.PADDED, down) == EvasionState.RESTORED
    assert table.state(Evasion.TRAILING_DOT, down) == EvasionState.NOT_RESTORED
    assert table.state(Evasion.SPLIT_IN_NAME, down) == EvasionState.NOT_RESTORED
    assert table.state(Evasion.FAKE, down) == EvasionState.NOT_APPLICABLE
    assert table.state(Evasion.PADDED, up) == EvasionState.NOT_APPLICABLE
    assert table.restoring == [Evasion.PADDED]


def test_the_lab_policer_inspects_each_or_the_first_record_in_exact_or_any_case() -> None:
    each = " ".join(" ".join(r) for r in build_plan(parse_composition("sni-police")).iptables)
    first = build_plan(parse_composition("sni-police:inspect=first,case=any")).iptables

    assert "--icase" not in each and "0x8/0x8" not in each
    assert all("--icase" in " ".join(rule) for rule in first if "--string" in rule)
    assert any("--set-mark 0x8/0x8" in " ".join(rule) for rule in first)
    with pytest.raises(ScenarioError, match="inspect: 'some' is not one of each, first"):
        build_plan(parse_composition("sni-police:inspect=some"))


def test_two_records_carry_the_handshake_cut_in_the_name_in_one_segment() -> None:
    (joined,) = shaped(Evasion.TWO_RECORDS)

    first_length = int.from_bytes(joined[3:5], "big")
    first, second = joined[: 5 + first_length], joined[5 + first_length :]
    assert first[:3] == second[:3] == b"\x16\x03\x01"
    assert int.from_bytes(second[3:5], "big") == len(second) - 5
    assert NAME.encode() not in joined  # the second record's header cuts the name
    assert (first[5:] + second[5:]).find(NAME.encode()) > 0


def test_a_change_cipher_spec_record_goes_first_in_the_same_segment() -> None:
    (sent,) = shaped(Evasion.RECORD_FIRST)

    assert sent.startswith(bytes([0x14, 0x03, 0x03, 0x00, 0x01, 0x01, 0x16]))


@pytest.mark.parametrize("direction", list(Direction))
# The fake is a raw segment that dies on the way to the server: the lab tests it.
@pytest.mark.parametrize("evasion", [e for e in Evasion if e != Evasion.FAKE])
def test_the_replay_server_serves_every_evasion_but_the_fake_in_both_directions(
    evasion: Evasion, direction: Direction
) -> None:
    async def work(port: int) -> ReplayRecord:
        target = ReplaySession(
            "127.0.0.1", port, sni_of(evasion, NAME), Variant.PLAIN, direction, 100_000
        )
        return await replay(target, SECRET, FAST, Clock(), shape=shaper(evasion))

    record = with_server(work)

    assert record.failure is None, record.phases
    assert record.stop_reason == StopReason.COMPLETE


def test_a_session_the_replay_server_refused_says_nothing() -> None:
    down = Direction.DOWNLOAD
    refused = session(down, Evasion.UPPER_CASE, None)
    assert refused.record is not None
    refused.record.failure = Failure.REPLAY_REFUSED
    sessions = [session(down, None, 900_000, baseline=True), session(down, None, 150), refused]

    table = judge_matrix(EvasionMatrix(NAME, "s:443", "c", None, sessions))

    assert table.state(Evasion.UPPER_CASE, down) == EvasionState.NOT_APPLICABLE


def test_sessions_start_a_gap_apart_and_a_refused_one_goes_once_more() -> None:
    async def main() -> tuple[list[float], int]:
        pacer, starts, calls = Pacer(0.2), [], []

        async def refused_once() -> ReplayRecord:
            calls.append(1)
            made = session(Direction.DOWNLOAD, None, 1.0).record
            assert made is not None
            made.failure = Failure.REPLAY_REFUSED if len(calls) == 1 else None
            return made

        for _ in range(3):
            await pacer.turn()
            starts.append(time.monotonic())
        with mock.patch("probe.measure.pacing.REFUSED_RETRY", 0.0):
            record = await pacer.session(refused_once)
        assert record.failure is None
        return starts, len(calls)

    starts, calls = asyncio.run(main())

    assert all(b - a >= 0.19 for a, b in itertools.pairwise(starts))
    assert calls == 2


def test_the_terminal_shows_the_matrix_by_direction_and_what_gets_past() -> None:
    from rich.console import Console

    from probe.sinks.locate import render

    down = Direction.DOWNLOAD
    sessions = [
        session(down, None, 900_000, baseline=True),
        session(down, None, 150),
        session(down, Evasion.PADDED, 850_000),
        session(down, Evasion.TRAILING_DOT, 140),
        EvasionSession(down, Evasion.FAKE, None),  # not sent
    ]
    console = Console(record=True, width=120)

    render([], console, [EvasionMatrix(NAME, "s:443", "c", None, sessions)])

    text = console.export_text()
    assert "download (plain: held down)" in text
    assert "padded" in text and "not_restored" in text and "not_applicable" in text
    assert "what gets past the equipment in every held direction: padded" in text
    assert "the fake was not sent" in text
