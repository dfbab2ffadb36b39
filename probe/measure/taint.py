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
``retest_taint`` is the same download outside a round: the daemon's re-tests
a few minutes later, which say for how long.
"""

from probe.config import Config, SniSwap
from probe.measure.jobs import Job, Silent, measure_job, round_context
from probe.measure.kind import MeasurementKind, RoundInProgress, Turn
from probe.measure.timing import Interrupt
from probe.records import SWAP_BASELINE, SWAP_GROUP, TAINT_CHECK, Role, TargetResult


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
        progress.result.taint = await measure_job(_taint_job(swap), progress.shared)


def _taint_job(swap: SniSwap) -> Job:
    return Job(TAINT_CHECK, SWAP_GROUP, Role.SNI_SWAP, swap.url, verify=False)


async def retest_taint(config: Config, interrupt: Interrupt) -> TargetResult | None:
    """The taint check alone, outside a round (the daemon's re-tests: for how long does the
    address stay slowed?); None without an SNI swap to take its server from."""
    if config.sni_swap is None:
        return None
    async with round_context(config, Silent(), interrupt) as shared:
        return await measure_job(_taint_job(config.sni_swap), shared)
