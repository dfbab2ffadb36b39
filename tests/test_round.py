"""A whole round: targets and controls together, and the no-network judgement."""

import asyncio
import datetime

from probe.analysis.reachability import network_unavailable
from probe.config import ResolverSpec, parse_config
from probe.measure.jobs import choose_address
from probe.measure.round import measure_round
from probe.records import (
    DnsRecord,
    Failure,
    Phase,
    Role,
    RoundResult,
    TargetResult,
    TransferRecord,
)
from tests.conftest import Lab


def test_targets_and_controls_run_side_by_side(lab: Lab) -> None:
    text = lab.config_text(
        {
            "tiktok": [(f"stall-{i}", lab.url("tiktok.test", "/stall/1000")) for i in range(3)],
            "control": [("ctl", lab.url("control.test", "/bytes/1000"))],
        }
    )
    result = asyncio.run(measure_round(parse_config(text, "lab")))

    starts = [datetime.datetime.fromisoformat(t.started_at) for t in result.targets]
    # Each stalled download holds its slot for the 2 s stall time-out; run one
    # after the other they would start seconds apart.
    assert (max(starts) - min(starts)).total_seconds() < 1.0
    assert [t.failure for t in result.targets] == [Failure.STALL] * 3 + [None]


def test_concurrency_setting_bounds_the_round(lab: Lab) -> None:
    text = lab.config_text(
        {"tiktok": [(f"stall-{i}", lab.url("tiktok.test", "/stall/1000")) for i in range(2)]},
        settings="concurrency: 1",
    )
    result = asyncio.run(measure_round(parse_config(text, "lab")))

    first, second = (datetime.datetime.fromisoformat(t.started_at) for t in result.targets)
    assert abs((second - first).total_seconds()) >= 1.9


def dns(resolver: str, answers: list[str], failure: Failure | None = None) -> DnsRecord:
    return DnsRecord(resolver, resolver, "x.test", "A", 0.0, 0.01, answers, failure)


def test_address_comes_from_the_first_resolver_that_answered() -> None:
    specs = [ResolverSpec("system", None), ResolverSpec("lab", "127.0.0.1")]
    records = [dns("lab", ["192.0.2.7"]), dns("system", [], Failure.DNS_NXDOMAIN)]

    assert choose_address(records, specs) == ("lab", "192.0.2.7")
    assert choose_address([dns("system", ["192.0.2.1"]), *records[:1]], specs) == (
        "system",
        "192.0.2.1",
    )
    assert choose_address(records[1:], specs) is None


def target(dns_records: list[DnsRecord], transfer: TransferRecord | None = None) -> TargetResult:
    return TargetResult("t", "g", Role.TARGET, "https://x.test/", "", dns_records, None, transfer)


def round_of(*targets: TargetResult) -> RoundResult:
    return RoundResult("", "", False, list(targets))


def test_no_network_when_nothing_answered_for_lack_of_a_path() -> None:
    silent = target([dns("a", [], Failure.DNS_UNAVAILABLE), dns("b", [], Failure.DNS_TIMEOUT)])

    assert network_unavailable(round_of(silent, silent))


def test_censorship_is_not_mistaken_for_no_network() -> None:
    nxdomain = target([dns("a", [], Failure.DNS_NXDOMAIN)])
    refused = TransferRecord("https://x.test/", "x.test", "192.0.2.1", 443, "x.test", 0, 1)
    refused.phases = [Phase("connect", 0.0, 0.1, Failure.TCP_RESET)]
    refused.failure = Failure.TCP_RESET
    reset = target([dns("a", ["192.0.2.1"])], refused)
    silent = target([dns("a", [], Failure.DNS_UNAVAILABLE)])

    assert not network_unavailable(round_of(silent, nxdomain))
    assert not network_unavailable(round_of(silent, reset))
    assert not network_unavailable(round_of())
