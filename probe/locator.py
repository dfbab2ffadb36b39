"""``throttle-probe locate`` end to end: each name's TTL walk, and where its handshake
passes, the sessions that look for a throttle; each judged (``analysis.locate``).

Above measure and analysis, as the runner is: it takes a request, measures,
judges, and hands back the locations for a sink to show.
"""

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from probe.analysis.locate import Location, decided, judge, sessions_decided
from probe.analysis.target_verdict import Verdict
from probe.config import Config
from probe.measure.evasion import evasion_matrix
from probe.measure.locate import PAUSE_BETWEEN_NAMES, HopListener, address_of, walk
from probe.measure.locate_session import raw_sockets_allowed, session_walk
from probe.records import EvasionMatrix, LocateFinding, TtlOutcome, TtlWalk, VerdictKind
from probe.schema import FinishedRound

log = logging.getLogger(__name__)

_AT_SERVER = {TtlOutcome.ANSWERED, TtlOutcome.CLOSED, TtlOutcome.RESET}
SESSION_SECONDS = 6.0  # a session per TTL and name: past a policer's burst, into its rate
DEFAULT_MAX_HOPS = 30
DAY = 86400.0
# The window verdicts that send a target to be located (a freeze is blocked, stage freeze).
_TO_LOCATE = {VerdictKind.THROTTLED, VerdictKind.BLOCKED}
_HELD = {LocateFinding.RESET, LocateFinding.DROP, LocateFinding.THROTTLE}


@dataclass(frozen=True)
class LocateRequest:
    """What to locate, and with what."""

    names: list[str]
    control: str
    server: tuple[str, int] | None  # every handshake to this server, not each name's own
    max_hops: int
    replay: tuple[str, int] | None = None  # the replay server, for the sessions
    secret: bytes | None = None
    session_seconds: float = SESSION_SECONDS
    targets: dict[str, str] = field(default_factory=dict)  # host name -> its target's name
    ports: dict[str, int] = field(default_factory=dict)  # host name -> its URL's port (443)
    evasions: bool = False  # the evasion matrix for each name found held (off unless asked)

    @classmethod
    def of(
        cls, config: Config, names: list[str], secret: bytes | None, **options: Any
    ) -> "LocateRequest":
        """A request for ``names`` with ``config``'s control, replay server and target names."""
        controls = [t.hostname for _, g, t in config.targets() if g.role == "control"]
        replay = None if config.replay is None else (config.replay.host, config.replay.port)
        configured = [t for _, g, t in config.targets() if g.role == "target"]
        targets = {t.hostname: t.name for t in configured}
        ports = {t.hostname: urlsplit(t.url).port or 443 for t in configured}
        settings: dict[str, Any] = {
            "control": controls[0] if controls else "example.org",
            "server": None,
            "max_hops": DEFAULT_MAX_HOPS,
            **options,
        }
        return cls(
            names=names, replay=replay, secret=secret, targets=targets, ports=ports, **settings
        )


@dataclass
class LocateRun:
    """What ``locate_all`` found: a location per name, and the evasion matrices asked for."""

    locations: list[Location] = field(default_factory=list)
    matrices: list[EvasionMatrix] = field(default_factory=list)


async def locate_all(request: LocateRequest, say: Callable[[str], None]) -> LocateRun:
    """Every name of ``request`` located (and its evasions tried, if asked); ``say`` hears
    of the progress."""
    listener = HopListener.open()
    replay = _ReplayServer(request, listener) if request.replay and request.secret else None
    run = LocateRun()
    try:
        for index, name in enumerate(request.names):
            if index:
                await asyncio.sleep(PAUSE_BETWEEN_NAMES)
            location = await _locate_one(name, request, listener, replay, say)
            if location is None:
                continue
            run.locations.append(location)
            if request.evasions and location.finding in _HELD and replay is not None:
                location.walk.evasions = await replay.evasions(location.walk, say)
                run.matrices.append(location.walk.evasions)
    finally:
        if listener is not None:
            listener.close()
    return run


async def _locate_one(
    name: str,
    request: LocateRequest,
    listener: HopListener | None,
    replay: "_ReplayServer | None",
    say: Callable[[str], None],
) -> Location | None:
    host, port = request.server or (name, request.ports.get(name, 443))
    address = await address_of(host, port)
    if address is None:
        say(f"{name}: {host} has no IPv4 address; skipped.")
        return None
    say(f"{name}: TTL walk to {address}:{port} beside {request.control}")
    walked = await walk(name, request.control, address, port, request.max_hops, decided, listener)
    walked.target = request.targets.get(name, "")
    location = judge(walked)
    if location.finding == LocateFinding.NOTHING and replay is not None and raw_sockets_allowed():
        location = await replay.sessions(walked, say)
    return location


class _ReplayServer:
    """The replay server: the TTL walk that finds its hop (once), the sessions after a
    TTL-limited ClientHello, and the evasion matrix."""

    def __init__(self, request: LocateRequest, listener: HopListener | None) -> None:
        assert request.replay is not None and request.secret is not None
        self.request, self.listener = request, listener
        self.replay, self.secret = request.replay, request.secret
        self._path: TtlWalk | None = None

    async def sessions(self, walked: TtlWalk, say: Callable[[str], None]) -> Location:
        path, server_hop = await self._server_path()
        port = self.replay[1]
        walked.session_server = f"{path.address}:{port}"
        if server_hop is None or server_hop < 2:
            say(f"{walked.name}: the replay server is not beyond hop 1: no sessions.")
            return judge(walked)
        say(f"{walked.name}: sessions to {path.address}:{port} after TTL-limited ClientHellos")
        walked.sessions = await session_walk(
            walked.name,
            self.request.control,
            (path.address, port),
            self.secret,
            range(1, server_hop),
            self.request.session_seconds,
            sessions_decided,
        )
        return judge(walked, path)

    async def evasions(self, walked: TtlWalk, say: Callable[[str], None]) -> EvasionMatrix:
        path, server_hop = await self._server_path()
        # The fake must die before the server, and get as far as it can.
        fake_ttl = server_hop - 1 if server_hop is not None and server_hop >= 2 else None
        say(f"{walked.name}: the evasion matrix against {path.address}:{self.replay[1]}")
        matrix = await evasion_matrix(
            walked.name, self.request.control, (path.address, self.replay[1]), self.secret, fake_ttl
        )
        matrix.target = walked.target
        return matrix

    async def _server_path(self) -> tuple[TtlWalk, int | None]:
        """The walk to the replay server, and the TTL at which it answered (its hop)."""
        if self._path is None:
            host, port = self.replay
            address = await address_of(host, port) or host
            control = self.request.control
            self._path = await walk(
                control, control, address, port, self.request.max_hops, decided, self.listener
            )
        # The replay server answers no ClientHello but its own: it closes or resets.
        hop = next((s.ttl for s in self._path.steps if s.control.outcome in _AT_SERVER), None)
        return self._path, hop


def to_locate(window: dict[str, Verdict], config: Config) -> list[tuple[str, str]]:
    """(target name, host name) of each target of ``config`` that ``window`` judged
    throttled or blocked."""
    hosts = {t.name: t.hostname for _, g, t in config.targets() if g.role == "target"}
    return [
        (name, hosts[name])
        for name, verdict in window.items()
        if name in hosts and verdict.verdict in _TO_LOCATE
    ]


class DailyLocator:
    """``daemon.locate``: after a round, the targets whose window verdict is throttled or
    blocked and that were not located in the last day, located; the next round carries
    their walks (``RoundResult.locate``), as it carries the taint re-tests."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._located: dict[str, float] = {}  # target name -> when it was last located

    def due(self, finished: FinishedRound) -> list[str]:
        """The host names to locate after ``finished``."""
        now = self._clock()
        due = []
        for name, host in to_locate(finished.window, finished.config):
            if now - self._located.get(name, -DAY) >= DAY:
                due.append(host)
                self._located[name] = now
        return list(dict.fromkeys(due))

    async def locate(self, finished: FinishedRound, secret: bytes | None) -> list[TtlWalk]:
        """Locate what ``due`` names; their walks (none when nothing is due)."""
        names = self.due(finished)
        if not names:
            return []
        evasions = finished.config.daemon.evasions
        request = LocateRequest.of(finished.config, names, secret, evasions=evasions)
        located = (await locate_all(request, log.info)).locations
        for location in located:
            log.info("located %s: %s", location.walk.name, location.finding.value)
        return [location.walk for location in located]
