"""Where a download froze, read from its own record (no measuring here).

A freeze is a body that stopped dead early in the connection and never
resumed: Russia's equipment on connections to foreign hosting (from June
2025) let about 10-14 packets through, ~16 KB (14-34 KB reported), then
dropped everything, usually without a reset. A download that stops after the
connection has carried more than ``FREEZE_BUDGET`` is a stall, not a freeze.
The figures come from the record's own samples: the byte samples say when
the last byte came, the TCP_INFO sample taken next says what the connection
had carried each way by then, and the last one what came after.
"""

from dataclasses import dataclass

from probe.records import Failure, TcpInfoSample, TransferRecord, Transport

# Received on the connection (TLS handshake, headers and body) when it froze:
# twice the highest budget reported, so that a large certificate chain or a
# server's first flight of 10 full segments on top of 34 KB still reads as one.
FREEZE_BUDGET = 64 * 1024
# A reset that came after this long without a byte ended a freeze; one sooner
# is a reset of its own (blocked at the tcp stage).
SILENCE_BEFORE_RESET = 1.0


@dataclass
class FreezePoint:
    """Where a download froze, and what the connection had carried by then."""

    body_bytes: int  # the body's offset: bytes of it that arrived
    at: float  # when the last of them came (seconds on the transfer's clock)
    silent_seconds: float  # how long nothing more came, until the download gave up
    reset: bool  # a reset ended the silence (else the probe's stall time-out did)
    # TCP_INFO at the freeze (None without it): bytes and segments each way.
    bytes_in: int | None = None
    bytes_out: int | None = None  # acknowledged by the server: ClientHello, request
    segments_in: int | None = None
    segments_out: int | None = None
    # Segments that still came after the last byte, carrying nothing new: the
    # server retransmitting because the client's acknowledgements were dropped.
    segments_in_after: int | None = None

    @property
    def connection_bytes(self) -> int:
        """What the connection had received when it froze (the body's offset without TCP_INFO)."""
        return self.bytes_in if self.bytes_in is not None else self.body_bytes


def freeze_point(transfer: TransferRecord | None) -> FreezePoint | None:
    """Where ``transfer`` froze; None if it did not (ended, failed otherwise, stalled late)."""
    if transfer is None or transfer.transport != Transport.TCP:
        return None
    body = transfer.phase("body")
    if body is None or transfer.failure not in (Failure.STALL, Failure.TCP_RESET):
        return None
    at = _last_byte_at(transfer, body.t0)
    silent = transfer.t - at
    reset = transfer.failure == Failure.TCP_RESET
    if reset and silent < SILENCE_BEFORE_RESET:
        return None
    point = FreezePoint(transfer.bytes, at, silent, reset)
    _read_connection(point, transfer.tcp_info)
    return point if point.connection_bytes <= FREEZE_BUDGET else None


def _last_byte_at(transfer: TransferRecord, body_started: float) -> float:
    """When the body's count reached its final value (the body's start if nothing came)."""
    reached = [s.t for s in transfer.samples if s.bytes == transfer.bytes and s.bytes > 0]
    return min(reached, default=body_started)


def _read_connection(point: FreezePoint, tcp_info: list[TcpInfoSample]) -> None:
    after = [sample for sample in tcp_info if sample.t >= point.at]
    if not after:
        return
    first, last = after[0], after[-1]
    point.bytes_in, point.bytes_out = first.bytes_received, first.bytes_acked
    point.segments_in, point.segments_out = first.segments_in, first.segments_out
    if first.segments_in is not None and last.segments_in is not None:
        point.segments_in_after = last.segments_in - first.segments_in
