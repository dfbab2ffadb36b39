"""Where a failed download failed: the stage of each failure, and a freeze's own."""

from probe.measure.freeze import freeze_point
from probe.records import Failure, Stage, TargetResult

STAGE_OF_FAILURE = {
    **{f: Stage.DNS for f in Failure if f.value.startswith("dns_")},
    Failure.NETWORK_UNREACHABLE: Stage.TCP,
    Failure.TCP_REFUSED: Stage.TCP,
    Failure.TCP_TIMEOUT: Stage.TCP,
    Failure.TCP_ERROR: Stage.TCP,
    Failure.TCP_RESET: Stage.TCP,
    Failure.TLS_RESET: Stage.TLS,
    Failure.TLS_TIMEOUT: Stage.TLS,
    Failure.TLS_CERT_INVALID: Stage.TLS,
    Failure.TLS_ERROR: Stage.TLS,
    Failure.HTTP_STATUS: Stage.HTTP,
    Failure.HTTP_TRUNCATED: Stage.HTTP,
    Failure.HTTP_ERROR: Stage.HTTP,
    Failure.HTTP_TOO_SMALL: Stage.HTTP,
    Failure.READ_TIMEOUT: Stage.HTTP,
    Failure.STALL: Stage.STALL,
    **{f: Stage.QUIC for f in Failure if f.value.startswith("quic_")},
    Failure.HTTP3_ERROR: Stage.HTTP,
}


def stage_of(entry: TargetResult) -> Stage | None:
    """Where ``entry`` failed (None if it did not): a stall early in the connection froze."""
    if entry.failure is None:
        return None
    if freeze_point(entry.transfer) is not None:
        return Stage.FREEZE
    return STAGE_OF_FAILURE.get(entry.failure, Stage.HTTP)
