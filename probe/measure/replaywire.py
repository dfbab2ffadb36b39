"""The replay protocol, shared by the probe (``measure.replay``) and ``throttle-probe serve``.

On the wire a session looks like the start of a TLS connection: the probe sends
a ClientHello record (plain, split, padded, or with every byte inverted), then
TLS application-data records flow, downstream (download) or upstream (upload,
followed by one record from the server reporting what it received).

The server must not answer a stranger: the ClientHello itself proves the
shared secret, in fields that on-path equipment sees as random bytes::

    random     = nonce (16) || request XOR HMAC(secret, "mask" || nonce)[:16]
    session_id = HMAC-SHA256(secret, LABEL || random)
    request    = "TP" || version (1) || direction "D"/"U" (1) || flags (1) || seconds (1)
                 || bytes (6) || unix time (4)

For an upload the server first answers with one short record (``ACCEPT_SIZE``
bytes of payload), as a TLS server answers a ClientHello, so that a refusal
(a plain close) is told apart from an on-path reset; then the server, which
alone sees what arrives when, ends the
session: at the plateau (flag bit 0) or after ``seconds``, it sends its report
and the probe stops sending. (A probe that stopped on its own would leave
megabytes queued in its socket at 150 kbit/s, and the report behind them.)

The MAC covers the nonce and the request; the time and a cache of recent
nonces stop a recorded ClientHello from being replayed by a third party.
A scrambled ClientHello is inverted as a whole, so it authenticates too.
"""

import hashlib
import hmac
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from probe.measure.clienthello import HANDSHAKE_RECORD, fields_of, invert
from probe.records import Direction

LABEL = b"throttle-probe/replay/1"
VERSION = 1
NONCE_SIZE = 16
REQUEST_SIZE = 16
CLOCK_SKEW = 300.0  # seconds a ClientHello's time may differ from the server's
APPLICATION_DATA = 0x17
# A ChangeCipherSpec record (TLS 1.3's middlebox compatibility, RFC 8446 D.4): the
# record the evasion matrix sends before a ClientHello, which the server passes over.
CHANGE_CIPHER_SPEC = bytes([0x14, 0x03, 0x03, 0x00, 0x01, 0x01])
RECORD_HEADER = 5
MAX_RECORD_PAYLOAD = 16384  # TLS's own limit on a record's plaintext
MAX_HELLO = 4096  # the padded ClientHello is ~1600 bytes; anything far bigger is not ours
MIN_SECRET = 16
ACCEPT_SIZE = 32  # payload of the record that lets an upload begin
# The longest session the protocol allows, which probe and server both keep
# to: the probe ends its session by then, the server only later (its read
# time-outs on top), so no session is cut by the server before the probe's
# own deadline. An upload's time budget leaves a quarter for the report.
MAX_SESSION_SECONDS = 120
MAX_UPLOAD_SECONDS = MAX_SESSION_SECONDS * 3 // 4


_DIRECTION_CODES = {Direction.DOWNLOAD: b"D", Direction.UPLOAD: b"U"}


class SecretError(ValueError):
    """The shared secret is missing or too weak; ``str()`` is one sentence."""


def load_secret(path: Path) -> bytes:
    """The secret in ``path`` (surrounding white space ignored); SecretError if unusable."""
    try:
        secret = path.read_bytes().strip()
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        raise SecretError(f"cannot read the replay secret file {path}: {reason}") from None
    return check_secret(secret, f"the replay secret in {path}")


def check_secret(secret: bytes, what: str) -> bytes:
    if not secret:
        raise SecretError(f"{what} is empty: it must hold at least {MIN_SECRET} bytes")
    if len(secret) < MIN_SECRET:
        raise SecretError(f"{what} must be at least {MIN_SECRET} bytes long")
    return secret


@dataclass(frozen=True)
class Request:
    direction: Direction
    bytes: int
    seconds: int = 30  # an upload's time budget, 1-MAX_UPLOAD_SECONDS
    stop_at_plateau: bool = True  # an upload may end once the rate has settled


def seal(secret: bytes, request: Request, now: float | None = None) -> tuple[bytes, bytes]:
    """The (random, session_id) fields that carry ``request`` and prove the secret."""
    nonce = os.urandom(NONCE_SIZE)
    stamp = int(time.time() if now is None else now) & 0xFFFFFFFF
    plain = (
        b"TP"
        + bytes([VERSION])
        + _DIRECTION_CODES[request.direction]
        + bytes([int(request.stop_at_plateau), max(1, min(MAX_UPLOAD_SECONDS, request.seconds))])
        + request.bytes.to_bytes(6, "big")
        + stamp.to_bytes(4, "big")
    )
    random = nonce + _xor(plain, _mask(secret, nonce))
    return random, _mac(secret, random)


class NonceCache:
    """Nonces seen within the clock-skew window, so each ClientHello works once.

    With a ``journal`` file the promise holds across restarts: every nonce is
    appended (and flushed to disk) before its session is served, and the
    nonces of the window are read back at start. A ClientHello captured just
    before a restart is refused after it as before.
    """

    def __init__(
        self, window: float = 2 * CLOCK_SKEW, limit: int = 100_000, journal: Path | None = None
    ) -> None:
        self._window = window
        self._limit = limit
        self._seen: dict[bytes, float] = {}
        self._journal = journal
        if journal is not None:
            self._seen = _read_journal(journal, time.time() - window)
            _write_journal(journal, self._seen)  # compacted: the window only

    def first_use(self, nonce: bytes, now: float) -> bool:
        if len(self._seen) >= self._limit:
            self._seen = {n: t for n, t in self._seen.items() if now - t < self._window}
            if self._journal is not None:
                _write_journal(self._journal, self._seen)
        if nonce in self._seen or len(self._seen) >= self._limit:
            return False  # a full cache refuses rather than forgets: no replay slips through
        self._seen[nonce] = now
        if self._journal is not None:
            with open(self._journal, "a", encoding="ascii") as journal:
                journal.write(f"{nonce.hex()} {now:.0f}\n")
                journal.flush()
                os.fsync(journal.fileno())
        return True


def _read_journal(path: Path, since: float) -> dict[bytes, float]:
    """The nonces in ``path`` seen after ``since``; a torn or foreign line is skipped."""
    seen: dict[bytes, float] = {}
    try:
        lines = path.read_text(encoding="ascii", errors="replace").splitlines()
    except FileNotFoundError:
        return seen
    for line in lines:
        parts = line.split()
        try:
            nonce, when = bytes.fromhex(parts[0]), float(parts[1])
        except (IndexError, ValueError):
            continue
        if len(nonce) == NONCE_SIZE and when >= since:
            seen[nonce] = when
    return seen


def _write_journal(path: Path, seen: dict[bytes, float]) -> None:
    """Replace ``path`` with ``seen`` in one step: a crash leaves the old file or the new."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(f"{n.hex()} {t:.0f}\n" for n, t in seen.items()), "ascii")
    os.replace(temporary, path)


def authenticate(
    secret: bytes, record: bytes, nonces: NonceCache, now: float | None = None
) -> Request | None:
    """The request a plain ClientHello record carries, or None if it does not prove the secret."""
    random, session_id = fields_of(record)
    if len(random) < NONCE_SIZE + REQUEST_SIZE or not hmac.compare_digest(
        session_id, _mac(secret, random)
    ):
        return None
    nonce = random[:NONCE_SIZE]
    plain = _xor(random[NONCE_SIZE:], _mask(secret, nonce))
    if plain[:3] != b"TP" + bytes([VERSION]):
        return None
    codes = {code: direction for direction, code in _DIRECTION_CODES.items()}
    direction = codes.get(plain[3:4])
    stamp = int.from_bytes(plain[12:16], "big")
    current = time.time() if now is None else now
    if direction is None or abs(current - stamp) > CLOCK_SKEW:
        return None
    if not nonces.first_use(nonce, current):
        return None
    count = int.from_bytes(plain[6:12], "big")
    return Request(direction, count, seconds=plain[5], stop_at_plateau=bool(plain[4] & 1))


def hello_header(header: bytes) -> tuple[bool, int] | None:
    """(scrambled, record length) from the first five bytes, or None if not a ClientHello."""
    if len(header) != RECORD_HEADER:
        return None
    scrambled = header[0] != HANDSHAKE_RECORD
    plain = invert(header) if scrambled else header
    if plain[0] != HANDSHAKE_RECORD or plain[1] != 0x03:
        return None
    length = int.from_bytes(plain[3:5], "big")
    return (scrambled, length) if 0 < length <= MAX_HELLO else None


def record_header(length: int) -> bytes:
    """The header of an application-data record carrying ``length`` bytes."""
    return bytes([APPLICATION_DATA, 0x03, 0x03]) + length.to_bytes(2, "big")


def framed_size(payload: int) -> int:
    """Bytes on the wire for ``payload`` bytes cut into full-size records."""
    records = -(-payload // MAX_RECORD_PAYLOAD)
    return payload + records * RECORD_HEADER


@dataclass(frozen=True)
class UploadReport:
    """What the server received in an upload: byte counts at its own times (seconds)."""

    bytes: int
    samples: list[tuple[float, int]]
    stop: str  # complete, plateau, deadline, stall or closed (the probe closed first)


def encode_report(report: UploadReport) -> bytes:
    body = {"bytes": report.bytes, "samples": report.samples, "stop": report.stop}
    return json.dumps(body, separators=(",", ":")).encode()


def decode_report(payload: bytes) -> UploadReport:
    """The server's report; ValueError if it is not one."""
    body = json.loads(payload)
    samples = [(float(t), int(n)) for t, n in body["samples"]]
    return UploadReport(int(body["bytes"]), samples, str(body["stop"]))


def _mask(secret: bytes, nonce: bytes) -> bytes:
    return hmac.new(secret, b"mask" + nonce, hashlib.sha256).digest()[:REQUEST_SIZE]


def _mac(secret: bytes, random: bytes) -> bytes:
    return hmac.new(secret, LABEL + random, hashlib.sha256).digest()


def _xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b, strict=True))
