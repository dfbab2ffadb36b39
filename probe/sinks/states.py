"""The states that pictures and tables colour: a verdict, with two blocks apart.

A block that is the 2025 freeze (stage ``freeze``) or a shutdown or white
list (rule ``shutdown``) says more than "blocked", so the report's timeline,
its summary and ``check --plot`` show them in colours of their own, as the
Grafana timeline does.
"""

from probe.records import Rule, Stage, VerdictKind

FREEZE, SHUTDOWN = "freeze", "shutdown"

# One colour per state, distinct in print and for the common colour blindnesses
# (throttled orange, blocked red, freeze purple, shutdown black).
STATE_COLOURS = {
    VerdictKind.OK: "#2e7d32",
    VerdictKind.THROTTLED: "#e65100",
    VerdictKind.BLOCKED: "#b71c1c",
    FREEZE: "#6a1b9a",
    SHUTDOWN: "#000000",
    VerdictKind.DEGRADED: "#f9a825",
    VerdictKind.INCONCLUSIVE: "#9e9e9e",
    VerdictKind.PLATFORM_REFUSED: "#1565c0",
}


def shown_state(verdict: VerdictKind, detail: str | None, rule: Rule | None) -> str:
    """The verdict, or ``freeze`` / ``shutdown`` for the blocks that are those."""
    if verdict == VerdictKind.BLOCKED and rule == Rule.SHUTDOWN:
        return SHUTDOWN
    if verdict == VerdictKind.BLOCKED and detail == Stage.FREEZE:
        return FREEZE
    return str(verdict)
