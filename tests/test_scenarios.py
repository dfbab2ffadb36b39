"""Scenario compositions and the router plans they build (no network)."""

import pytest

from probe.lab import topology
from probe.lab.scenarios import ScenarioError, build_plan, parse_composition, parse_rate


def test_rates_parse_in_bits_per_second() -> None:
    assert parse_rate("150kbit") == 150_000
    assert parse_rate("1.5mbit") == 1_500_000
    assert parse_rate("10Mbit") == 10_000_000
    assert parse_rate("1gbit") == 1_000_000_000
    with pytest.raises(ScenarioError, match="not a rate"):
        parse_rate("fast")


def test_composition_takes_inline_parameters_and_overrides() -> None:
    impairments = parse_composition("sni-police+congested:rate=5mbit", {"rate": "300kbit"})

    assert [i.describe() for i in impairments] == [
        "sni-police:rate=300kbit,pattern=twitter.com|twimg.com|t.co,inspect=each,case=exact",
        "congested:rate=5mbit",
    ]
    plan = build_plan(impairments)
    assert plan.link_rate == 5_000_000
    assert any("37500b/s" in " ".join(rule) for rule in plan.iptables)  # 300 kbit/s in bytes


def test_policing_marks_by_substring_like_the_2021_equipment() -> None:
    plan = build_plan(parse_composition("sni-police"))

    marked = [rule[rule.index("--string") + 1] for rule in plan.iptables if "--string" in rule]
    assert marked == list(topology.TWITTER_PATTERNS)
    assert "t.co" in "microsoft.com"  # the loose match the lab reproduces on purpose


def test_lying_resolver_sends_platform_names_to_the_sinkhole() -> None:
    plan = build_plan(parse_composition("lying-resolver:server=tiktok"))

    assert plan.dns_lies == {"www.tiktok.com": [topology.SINKHOLE]}


def test_a_cdn_answers_the_isp_resolver_with_another_working_server() -> None:
    plan = build_plan(parse_composition("cdn"))

    twitter = topology.server("twitter").address
    assert plan.dns_lies == {"pbs.twimg.com": [twitter], "abs.twimg.com": [twitter]}


def test_the_freeze_counts_both_directions_per_connection_and_spares_the_exempt() -> None:
    plan = build_plan(parse_composition("freeze:server=twimg,exempt=abs.twimg.com,after=16000"))

    rules = [" ".join(rule) for rule in plan.iptables]
    twimg = topology.server("twimg").address
    assert plan.needs_conntrack_accounting
    assert any(f"-d {twimg}" in r and "--string abs.twimg.com" in r for r in rules)
    drop = next(r for r in rules if "connbytes" in r)
    assert f"--ctorigdst {twimg}" in drop and "--connbytes 16000:" in drop
    assert "--connbytes-dir both" in drop and "! --mark 0x2/0x2" in drop


@pytest.mark.parametrize(
    ("composition", "message"),
    [
        ("cdn:at=twimg", "server=twimg and at=twimg are the same server"),
        ("freeze:after=16k", "after='16k' must be a number of bytes"),
        ("nothing", "no scenario named 'nothing'"),
        ("shape:speed=1mbit", "shape: unknown parameter 'speed=1mbit' (allowed: rate, server)"),
        ("shape:server=myspace", "no lab server 'myspace'"),
        ("loss:loss=2", "loss '2' must be between 0 and 1"),
        ("stall:after=lots", "after='lots' must be a number of bytes"),
        ("sni-reset:pattern=a b", "pattern 'a b' may hold only letters"),
    ],
)
def test_bad_compositions_are_refused_before_anything_is_applied(
    composition: str, message: str
) -> None:
    with pytest.raises(ScenarioError) as refused:
        parse_composition(composition)

    assert message in str(refused.value)
