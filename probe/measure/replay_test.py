"""The replay test: a recorded session replayed against your own server, each
ClientHello shape against the scrambled one.

Last in the round, one session after the other (``Turn.ALONE``), as Wehe
replays: the sessions compare with each other only, so each gets the path
to itself. Writes ``RoundResult.replays``; ``analysis.replay_findings``
judges them.
"""

from probe.config import Config
from probe.measure.jobs import RoundContext
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.replay_session import ReplaySession, ReplaySettings, replay
from probe.measure.replaywire import framed_size
from probe.measure.timing import Clock
from probe.records import Direction, ReplayRecord, Variant


class ReplayTest(MeasurementKind):
    """``secret``: the replay server's shared secret (the test needs it to run)."""

    name = "replay"
    turn = Turn.ALONE

    def __init__(self, secret: bytes) -> None:
        self.secret = secret

    async def measure(self, progress: RoundInProgress) -> None:
        for label, session in replay_sessions(progress.shared.config):
            if progress.interrupted:
                break
            record = await measure_replay(label, session, self.secret, progress.shared)
            progress.result.replays.append(record)


def replay_sessions(config: Config) -> list[tuple[str, ReplaySession]]:
    """(label, session) for each direction: every platform name, the control name,
    the scrambled baseline, and the split and padded shapes of the first name."""
    replay = config.replay
    if replay is None:
        return []
    names = config.replay_names()
    first = names[0] if names else replay.control_name
    plan = [(name, Variant.PLAIN) for name in names]
    plan += [(replay.control_name, Variant.PLAIN), (first, Variant.SCRAMBLED)]
    if replay.evasion:
        plan += [(first, Variant.SPLIT), (first, Variant.PADDED)]
    sessions = []
    for direction in map(Direction, replay.directions):
        for sni, variant in dict.fromkeys(plan):
            session = ReplaySession(replay.host, replay.port, sni, variant, direction, replay.bytes)
            sessions.append((f"{direction.value} {variant.value} {sni}", session))
    return sessions


async def measure_replay(
    label: str, session: ReplaySession, secret: bytes, shared: RoundContext
) -> ReplayRecord:
    clock = Clock()
    shared.listener.replay_started(label, framed_size(session.payload_bytes))
    record = await replay(
        session,
        secret,
        replay_settings(shared.config),
        clock,
        shared.interrupt,
        on_bytes=lambda total: shared.listener.bytes_received(label, total),
    )
    shared.listener.replay_finished(label, record)
    return record


def replay_settings(config: Config) -> ReplaySettings:
    timeouts = config.settings.timeouts
    return ReplaySettings(
        connect_timeout=timeouts.connect,
        stall_timeout=timeouts.stall,
        transfer_timeout=timeouts.transfer,
        stop_at_plateau=config.settings.stop_at_plateau,
    )
