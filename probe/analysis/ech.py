"""The ECH check judged: is a ClientHello with ECH stopped where one without passes?

Three ClientHellos to one server (``measure.ech``): with a GREASE ECH extension
and the outer name ``cloudflare-ech.com``, the same without the extension,
and the extension with another outer name. ``blocked`` when the first goes
unanswered while the second is answered (Russia's rule of November 2024 also
lets the third through; when the third fails too, ECH itself is stopped);
``ok`` when the ECH ClientHello is answered; ``inconclusive`` when even the one
without ECH is not: the server, not ECH, is what fails.
"""

import enum
from dataclasses import dataclass, field

from probe.analysis.compare import Network
from probe.analysis.kind import Cell, Column, KindFindings, KindJudge, Series, Shown, Tone
from probe.analysis.stages import STAGE_OF_FAILURE
from probe.records import EchProbe, EchVariant, Failure, RoundResult, Stage


class EchVerdict(enum.StrEnum):
    OK = "ok"
    BLOCKED = "blocked"
    INCONCLUSIVE = "inconclusive"


@dataclass
class EchOutcome:
    """One ClientHello of the check: answered, or where it failed."""

    variant: EchVariant
    outer_name: str
    ech: bool
    answered: bool
    stage: Stage | None = None  # where it failed
    failure: Failure | None = None
    seconds: float | None = None  # from the ClientHello's connect to the answer or the failure


@dataclass
class EchSection:
    """The check in the round's document: each ClientHello, then one verdict."""

    server: str
    address: str | None
    outcomes: list[EchOutcome] = field(default_factory=list)
    verdict: EchVerdict = EchVerdict.INCONCLUSIVE
    reason: str = ""


class EchJudge(KindJudge):
    name = "ech"

    def judge(self, result: RoundResult, network: Network) -> "EchFindings":
        return EchFindings(judge_ech(result.ech))


def judge_ech(probes: list[EchProbe]) -> EchSection | None:
    if not probes:
        return None
    outcomes = {probe.variant: _outcome(probe) for probe in probes}
    section = EchSection(probes[0].server, probes[0].address, list(outcomes.values()))
    section.verdict, section.reason = _verdict(outcomes)
    return section


def _outcome(probe: EchProbe) -> EchOutcome:
    stage = None if probe.failure is None else STAGE_OF_FAILURE.get(probe.failure, Stage.TLS)
    return EchOutcome(
        probe.variant,
        probe.outer_name,
        probe.ech,
        probe.failure is None,
        stage,
        probe.failure,
        probe.t - probe.t0,
    )


def _verdict(outcomes: dict[EchVariant, EchOutcome]) -> tuple[EchVerdict, str]:
    ech, plain = outcomes[EchVariant.ECH], outcomes[EchVariant.NO_ECH]
    other = outcomes.get(EchVariant.OTHER_NAME)
    if not plain.answered:
        return EchVerdict.INCONCLUSIVE, (
            f"the server does not answer even without ECH ({plain.failure}): it, not ECH, fails"
        )
    if ech.answered:
        return EchVerdict.OK, f"a ClientHello with ECH and the outer name {ech.outer_name} passes"
    if other is not None and other.answered:
        tail = (
            f"ECH with the outer name {other.outer_name} passes, and {ech.outer_name} without "
            "ECH: the pair is blocked, as in Russia from November 2024"
        )
    else:
        tail = f"{ech.outer_name} without ECH passes: ECH itself is blocked"
    return EchVerdict.BLOCKED, (
        f"ECH with the outer name {ech.outer_name} got no answer ({ech.failure} at the "
        f"{ech.stage} stage); {tail}"
    )


@dataclass(frozen=True)
class EchFindings(KindFindings):
    section: EchSection | None

    def shown(self) -> Shown | None:
        section = self.section
        if section is None:
            return None
        rows = [
            (
                Cell(outcome.variant),
                Cell(outcome.outer_name),
                Cell("yes" if outcome.ech else "no"),
                Cell("answered", Tone.FINE)
                if outcome.answered
                else Cell("no answer", Tone.ALARM, str(outcome.failure)),
            )
            for outcome in section.outcomes
        ]
        columns = (Column("ClientHello"), Column("outer name"), Column("ECH"), Column("result"))
        title = f"ECH check ({section.server})"
        return Shown(title, columns, rows, [f"ECH: {section.verdict}: {section.reason}."])

    def series(self) -> list[Series]:
        if self.section is None:
            return []
        verdict = self.section.verdict
        samples = [((kind.value,), float(kind == verdict)) for kind in EchVerdict]
        return [
            Series(
                "ech_verdict",
                "The ECH check of the latest round, 1 for its verdict and 0 for the others: "
                "blocked when a ClientHello with ECH and the outer name cloudflare-ech.com "
                "goes unanswered while the same without ECH is answered.",
                ("verdict",),
                samples,
            )
        ]
