"""The SNI swap: a neutral server downloaded with its own name, then with each suspect name.

Its downloads join the round's (``Turn.WITH_TARGETS``), as entries of role
``sni_swap``; ``analysis.sniswap`` compares each with the innocuous one.
"""

import re
import secrets

from probe.config import Config
from probe.measure.jobs import Job
from probe.measure.kind import MeasurementKind, Turn
from probe.records import SWAP_BASELINE, SWAP_GROUP, Role


class SniSwap(MeasurementKind):
    name = "sni_swap"
    turn = Turn.WITH_TARGETS

    def jobs(self, config: Config) -> list[Job]:
        return swap_jobs(config)


def swap_jobs(config: Config) -> list[Job]:
    """The neutral server once with its own (innocuous) name, then once per suspect name.

    The canaries reveal loose matching, as in 2021: any subdomain of twimg.com
    was throttled, and the substring `t.co` caught microsoft.com.
    """
    swap = config.sni_swap
    if swap is None:
        return []
    names = config.swap_names()
    if swap.canaries:
        names += [f"{secrets.token_hex(4)}.twimg.com", "microsoft.com"]
    jobs = [Job(SWAP_BASELINE, SWAP_GROUP, Role.SNI_SWAP, swap.url, verify=False)]
    for sni in dict.fromkeys(names):
        label = "swap-" + re.sub(r"[^a-z0-9-]", "-", sni.lower())[:56]
        jobs.append(Job(label, SWAP_GROUP, Role.SNI_SWAP, swap.url, sni=sni, verify=False))
    return jobs
