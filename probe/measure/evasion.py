"""The evasion matrix: which known evasions get a name past the equipment that holds it.

For a name the network slows, blocks or freezes, one replay session per
evasion and direction to the replay server (``throttle-probe serve``), one at
a time, beside the plain ClientHello's session and the scrambled baseline of
the same direction (Censored Planet's and Wehe's control: the same bytes,
nothing a classifier can read). The evasions (``records.Evasion``) are the
ones zapret's blockcheck and GoodbyeDPI users try by hand: the ClientHello
split over two TCP segments at three places or over two TLS records in one
segment, a ChangeCipherSpec record before it, padded past one packet, the name
in capitals or with a trailing dot, and a fake ClientHello for an innocuous
name sent first with a TTL that dies before the server. Sessions go as the
replay server's admission control lets them in (``measure.pacing``).
``analysis.evasion`` says which restored the baseline's rate.
"""

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from probe.measure.clienthello import ClientHello, client_hello_record, split_point
from probe.measure.locate_session import Trigger, raw_sockets_allowed
from probe.measure.pacing import Pacer
from probe.measure.replay_session import ReplaySession, ReplaySettings, replay
from probe.measure.replaywire import CHANGE_CIPHER_SPEC
from probe.measure.timing import Clock
from probe.records import Direction, Evasion, EvasionMatrix, EvasionSession, ReplayRecord, Variant

RECORD_HEADER = 5
EVASION_SECONDS = 6.0  # each session: past a policer's burst, into its rate
SESSION_BYTES = 8 * 1024 * 1024
PADDED_SIZE = 1600  # past a 1500-byte MTU whatever the headers
_SPLITS = (Evasion.SPLIT_IN_HEADER, Evasion.SPLIT_BEFORE_NAME, Evasion.SPLIT_IN_NAME)


def sni_of(evasion: Evasion | None, name: str) -> str:
    """The name as the evasion's ClientHello carries it."""
    if evasion == Evasion.UPPER_CASE:
        return name.upper()
    if evasion == Evasion.TRAILING_DOT:
        return name if name.endswith(".") else name + "."
    return name


def shaper(evasion: Evasion) -> Callable[[str, bytes, bytes], ClientHello]:
    """Builds the evasion's ClientHello from the name, random and session id."""

    def shaped(sni: str, random: bytes, session_id: bytes) -> ClientHello:
        pad_to = PADDED_SIZE if evasion == Evasion.PADDED else None
        record = client_hello_record(sni, random, session_id, pad_to=pad_to)
        if evasion in _SPLITS:
            cut = cut_for(evasion, record, sni)
            return ClientHello(sni, Variant.SPLIT, (record[:cut], record[cut:]))
        if evasion == Evasion.TWO_RECORDS:
            return ClientHello(sni, Variant.PLAIN, (two_records(record, split_point(record, sni)),))
        if evasion == Evasion.RECORD_FIRST:
            return ClientHello(sni, Variant.PLAIN, (CHANGE_CIPHER_SPEC + record,))
        return ClientHello(sni, Variant.PLAIN, (record,))

    return shaped


def two_records(record: bytes, cut: int) -> bytes:
    """``record`` as two TLS records, its handshake bytes cut at ``cut`` (an offset in it)."""
    header, body = record[:RECORD_HEADER], record[RECORD_HEADER:]
    first, second = body[: cut - RECORD_HEADER], body[cut - RECORD_HEADER :]
    return b"".join(header[:3] + len(part).to_bytes(2, "big") + part for part in (first, second))


def cut_for(evasion: Evasion, record: bytes, sni: str) -> int:
    """Where a split evasion cuts ``record``: after two bytes of the record header, just
    before the name, or in its middle."""
    if evasion == Evasion.SPLIT_IN_HEADER:
        return 2
    if evasion == Evasion.SPLIT_BEFORE_NAME:
        start = record.find(sni.encode("idna"))
        return start if start > 0 else len(record) // 2
    return split_point(record, sni)


async def evasion_matrix(
    name: str,
    control: str,
    server: tuple[str, int],
    secret: bytes,
    fake_ttl: int | None,
    directions: Sequence[Direction] = (Direction.DOWNLOAD, Direction.UPLOAD),
    seconds: float = EVASION_SECONDS,
    on_session: Callable[[EvasionSession], None] | None = None,
) -> EvasionMatrix:
    """Every evasion of ``name`` in each direction, beside the plain and the scrambled
    sessions; the fake with TTL ``fake_ttl`` (not sent when None or without CAP_NET_RAW)."""
    host, port = server
    fake_ttl = fake_ttl if fake_ttl is not None and raw_sockets_allowed() else None
    settings = ReplaySettings(
        connect_timeout=5.0, stall_timeout=seconds, transfer_timeout=seconds, stop_at_plateau=False
    )
    run = _Run(name, control, server, secret, fake_ttl, settings, Pacer())
    matrix = EvasionMatrix(name, f"{host}:{port}", control, fake_ttl)
    for direction in directions:
        plan: list[tuple[Evasion | None, bool]] = [(None, True), (None, False)]
        plan += [(evasion, False) for evasion in Evasion]
        for evasion, baseline in plan:
            session = await run.session(direction, evasion, baseline)
            matrix.sessions.append(session)
            if on_session is not None:
                on_session(session)
    return matrix


@dataclass(frozen=True)
class _Run:
    """What every session of one matrix shares."""

    name: str
    control: str
    server: tuple[str, int]
    secret: bytes
    fake_ttl: int | None
    settings: ReplaySettings
    pacer: Pacer

    async def session(
        self, direction: Direction, evasion: Evasion | None, baseline: bool
    ) -> EvasionSession:
        """One session: the scrambled baseline, the plain ClientHello, or an evasion."""
        host, port = self.server
        variant = Variant.SCRAMBLED if baseline else Variant.PLAIN
        sni = sni_of(evasion, self.name)
        replayed = ReplaySession(host, port, sni, variant, direction, SESSION_BYTES)
        if evasion == Evasion.FAKE and self.fake_ttl is None:
            return EvasionSession(direction, evasion, None)

        async def once() -> ReplayRecord:
            if evasion is None:
                return await replay(replayed, self.secret, self.settings, Clock())
            if evasion != Evasion.FAKE:
                shaped = shaper(evasion)
                return await replay(replayed, self.secret, self.settings, Clock(), shape=shaped)
            assert self.fake_ttl is not None
            trigger = Trigger(self.control, self.fake_ttl)
            try:
                return await replay(
                    replayed, self.secret, self.settings, Clock(), before_hello=trigger.send
                )
            finally:
                trigger.close()

        return EvasionSession(direction, evasion, await self.pacer.session(once), baseline)
