"""The taint check: the SNI swap's server again with its own name, after the platform names.

Tainted addresses: in Türkiye (2022) a server address stayed slowed, without
any SNI, for a while after one offending ClientHello; a Russian variant (2025)
switched a filter on for ten minutes after one packet to a hosting provider.
The SNI swap sends each platform name to a neutral server of the user's;
after the round's downloads (``Turn.AFTER_TARGETS``), this kind downloads the
same object from the same address once more with the server's own name, on
a new connection. ``analysis.taint`` compares it with the swap's innocuous
download, which ran before the platform names had been seen: slowed means
the address carries the names' penalty now, whatever name comes.
"""

from probe.measure.jobs import Job, measure_job
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.records import SWAP_BASELINE, SWAP_GROUP, TAINT_CHECK, Role


class TaintCheck(MeasurementKind):
    name = "taint"
    turn = Turn.AFTER_TARGETS

    async def measure(self, progress: RoundInProgress) -> None:
        swap = progress.shared.config.sni_swap
        baseline = next((r for _, r in progress.measured if r.name == SWAP_BASELINE), None)
        suspects = [
            r for _, r in progress.measured if r.role == Role.SNI_SWAP and r is not baseline
        ]
        if swap is None or baseline is None or not suspects or progress.interrupted:
            return
        job = Job(TAINT_CHECK, SWAP_GROUP, Role.SNI_SWAP, swap.url, verify=False)
        progress.result.taint = await measure_job(job, progress.shared)
