"""``throttle-probe locate`` end to end: each name's TTL walk, and where its handshake
passes, the sessions that look for a throttle; each judged (``analysis.locate``).

Above measure and analysis, as the runner is: it takes a request, measures,
judges, and hands back the locations for a sink to show.
"""

import asyncio
from collections.abc import Callable
from dataclasses import dataclass

from probe.analysis.locate import Location, decided, judge, sessions_decided
from probe.measure.locate import PAUSE_BETWEEN_NAMES, HopListener, address_of, walk
from probe.measure.locate_session import raw_sockets_allowed, session_walk
from probe.records import LocateFinding, TtlOutcome, TtlWalk

_AT_SERVER = {TtlOutcome.ANSWERED, TtlOutcome.CLOSED, TtlOutcome.RESET}
SESSION_SECONDS = 6.0  # a session per TTL and name: past a policer's burst, into its rate


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


async def locate_all(request: LocateRequest, say: Callable[[str], None]) -> list[Location]:
    """Every name of ``request`` located; ``say`` hears of the progress."""
    listener = HopListener.open()
    sessions = _Sessions(request, listener) if _sessions_possible(request) else None
    found = []
    try:
        for index, name in enumerate(request.names):
            if index:
                await asyncio.sleep(PAUSE_BETWEEN_NAMES)
            host, port = request.server or (name, 443)
            address = await address_of(host, port)
            if address is None:
                say(f"{name}: {host} has no IPv4 address; skipped.")
                continue
            say(f"{name}: TTL walk to {address}:{port} beside {request.control}")
            walked = await walk(
                name, request.control, address, port, request.max_hops, decided, listener
            )
            location = judge(walked)
            if location.finding == LocateFinding.NOTHING and sessions is not None:
                location = await sessions.locate(walked, say)
            found.append(location)
    finally:
        if listener is not None:
            listener.close()
    return found


def _sessions_possible(request: LocateRequest) -> bool:
    return request.replay is not None and request.secret is not None and raw_sockets_allowed()


class _Sessions:
    """The sessions to the replay server, and the TTL walk that finds its hop (once)."""

    def __init__(self, request: LocateRequest, listener: HopListener | None) -> None:
        assert request.replay is not None and request.secret is not None
        self.request, self.listener = request, listener
        self.replay, self.secret = request.replay, request.secret
        self._path: TtlWalk | None = None

    async def locate(self, walked: TtlWalk, say: Callable[[str], None]) -> Location:
        path = await self._server_path()
        # The replay server answers no ClientHello but its own: it closes or resets.
        server_hop = next((s.ttl for s in path.steps if s.control.outcome in _AT_SERVER), None)
        host, port = self.replay
        walked.session_server = f"{path.address}:{port}"
        if server_hop is None or server_hop < 2:
            say(f"{walked.name}: the replay server {host} is not beyond hop 1: no sessions.")
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

    async def _server_path(self) -> TtlWalk:
        if self._path is None:
            host, port = self.replay
            address = await address_of(host, port) or host
            control = self.request.control
            self._path = await walk(
                control, control, address, port, self.request.max_hops, decided, self.listener
            )
        return self._path
