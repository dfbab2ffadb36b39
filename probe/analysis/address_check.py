"""The address check judged: what the address another resolver gives did for a failed target.

The DNS rule reads the check itself (``target_verdict._dns_tampering``); here
it becomes a clause of the verdict's reason and a part of its evidence,
whatever the verdict: "at public's address 203.0.113.10 it fails too" says
the block follows the name, "works" that it sits on one address.
"""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from probe.analysis.compare import Network
from probe.analysis.kind import KindFindings, KindJudge, Note
from probe.records import AddressCheck, Failure, RoundResult, TargetResult
from probe.units import format_rate

if TYPE_CHECKING:
    from probe.analysis.evidence import Evidence


@dataclass
class AddressCheckFigures:
    """The check's download, in the verdict's evidence."""

    resolver: str
    address: str | None
    failure: Failure | None = None
    goodput_bytes_per_second: float | None = None


class AddressCheckJudge(KindJudge):
    name = "address_check"

    def judge(self, result: RoundResult, network: Network) -> "AddressCheckFindings":
        return AddressCheckFindings()


@dataclass(frozen=True)
class AddressCheckFindings(KindFindings):
    def note_for(self, target: TargetResult) -> Note | None:
        check = target.address_check
        if check is None:
            return None
        figures = AddressCheckFigures(
            check.resolver,
            check.transfer.address,
            check.transfer.failure,
            check.transfer.goodput_bytes_per_second,
        )

        def attach(evidence: "Evidence") -> None:
            evidence.address_check = figures

        return Note(check_text(check), attach)


def check_text(check: AddressCheck) -> str:
    transfer = check.transfer
    where = f"at {check.resolver}'s address {transfer.address}"
    if transfer.failure is not None:
        return f"{where} it fails too ({transfer.failure})"
    return f"{where} it works ({format_rate(transfer.goodput_bytes_per_second)})"
