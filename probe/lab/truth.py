"""What each lab scenario does to each target: the ground truth verdicts are judged against.

Written out by hand from the scenarios' definitions (their default
parameters), so that a change to either shows up as a disagreement in the
lab tests and the accuracy benchmark.
"""

TARGETS = ("pbs-twimg-com", "abs-twimg-com", "twitter-com", "x-com", "tiktok-com")

# The 2021 patterns (twitter.com, twimg.com, t.co) match these; x.com holds none.
_POLICED = {"pbs-twimg-com": "throttled/policing", "abs-twimg-com": "throttled/policing"}
_POLICED["twitter-com"] = "throttled/policing"
_SHAPED = {"pbs-twimg-com": "throttled/shaping", "abs-twimg-com": "throttled/shaping"}


def _expect(default: str, **special: str) -> dict[str, str]:
    return {name: special.get(name, default) for name in TARGETS}


EXPECTED = {
    "clean": _expect("ok"),
    "sni-police": _expect("ok", **_POLICED),
    "shape": _expect("ok", **_SHAPED),  # shape's default server is twimg
    "congested": _expect("degraded"),
    "loss": _expect("ok"),
    "sni-reset": _expect("ok", **{"tiktok-com": "blocked/tls"}),
    "blackhole": _expect("ok", **{"tiktok-com": "blocked/tcp"}),
    "lying-resolver": _expect("blocked/dns"),
    "stall": _expect("ok", **{"tiktok-com": "blocked/stall"}),
    "sni-police+congested:rate=20mbit": _expect("ok", **_POLICED),
    "sni-police+stall": _expect("ok", **_POLICED, **{"tiktok-com": "blocked/stall"}),
}


def verdict_label(verdict: dict[str, str | None]) -> str:
    """``throttled/policing``, ``blocked/tls``, ``ok``: a verdict as the tables above name it."""
    detail = verdict.get("mechanism") or verdict.get("stage")
    return str(verdict["verdict"]) + (f"/{detail}" if detail else "")
