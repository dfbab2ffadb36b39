"""Could the round reach the network at all?"""

from probe.records import Failure, RoundResult

# Failures that mean "could not get out", as opposed to an answer someone gave.
_NO_PATH = {Failure.DNS_UNAVAILABLE, Failure.DNS_TIMEOUT, Failure.NETWORK_UNREACHABLE}


def network_unavailable(result: RoundResult) -> bool:
    """True when no resolver answered and no connection opened, for lack of a path.

    A censor that answers NXDOMAIN, or resets connections, leaves answers and
    handshakes in the records; only an absent network leaves nothing at all.
    """
    if not result.targets:
        return False
    failures: list[Failure] = []
    for target in result.targets:
        for record in target.dns:
            if record.answers:
                return False
            if record.failure is not None:
                failures.append(record.failure)
        transfer = target.transfer
        if transfer is not None:
            if transfer.duration("connect") is not None:
                return False
            if transfer.failure is not None:
                failures.append(transfer.failure)
    return bool(failures) and all(f in _NO_PATH for f in failures)
