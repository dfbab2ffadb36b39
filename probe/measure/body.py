"""The body of a transfer or a replay session: read, counted, stopped, then recorded.

Three readers share this loop: the HTTPS download, the replay download, and
the replay server reading an upload. Each counts what arrives (the sampler
reads the counter on its own timer), stops at its byte limit or once the rate
has settled (``plateau``), and tells the caller which. What the stream's end
or a time-out means differs between them, so the callers name it.
"""

import enum
from collections.abc import AsyncIterator, Callable

from probe.measure.goodput import goodput_bytes_per_second
from probe.measure.plateau import plateau_reached
from probe.measure.sampler import ByteCounter, Sampler
from probe.measure.timing import Clock, PhaseLog
from probe.records import ReplayRecord, TransferRecord


class BodyEnd(enum.Enum):
    LIMIT = "limit"  # ``limit`` bytes counted
    PLATEAU = "plateau"  # the rate held flat: more bytes would only confirm it
    END = "end"  # the stream ended first


async def read_body(
    chunks: AsyncIterator[bytes],
    counter: ByteCounter,
    sampler: Sampler,
    limit: int,
    stop_at_plateau: bool,
    on_chunk: Callable[[int], None] | None = None,
) -> BodyEnd:
    """Count ``chunks`` into ``counter`` until ``limit``, a plateau, or their end."""
    judged = 0  # samples already judged for a plateau: judge each new one once
    async for chunk in chunks:
        counter.add(len(chunk))
        if on_chunk is not None:
            on_chunk(counter.bytes)
        if counter.bytes >= limit:
            return BodyEnd.LIMIT
        if stop_at_plateau and len(sampler.samples) > judged:
            judged = len(sampler.samples)
            if plateau_reached(sampler.samples):
                return BodyEnd.PLATEAU
    return BodyEnd.END


def finish_record(
    record: TransferRecord | ReplayRecord,
    phases: PhaseLog,
    clock: Clock,
    sampler: Sampler | None,
    counter: ByteCounter,
    received_here: bool = True,
) -> None:
    """Close the record of a step that has ended, however it ended.

    ``received_here`` is False for an upload: its samples and byte count are
    the server's, from its report, and only TCP_INFO is this side's.
    """
    if sampler is not None:
        sampler.stop()
        record.tcp_info = sampler.tcp_info
        if received_here:
            record.samples = sampler.samples
    if received_here:
        record.bytes = counter.bytes
    record.t = clock.now()
    phases.close(record.t)
    if isinstance(record, TransferRecord):
        rtt, samples = record.round_trip(), record.body_samples()
    else:
        rtt, samples = record.duration("connect"), record.samples
    record.goodput_bytes_per_second = goodput_bytes_per_second(samples, rtt)
