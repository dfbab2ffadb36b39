"""The DNS step against a real DNS server on loopback (and the system resolver)."""

import asyncio

from probe.config import ResolverSpec, parse_resolver_address
from probe.measure.dns import ResolverSet, resolve
from probe.measure.timing import Clock
from probe.records import DnsRecord, Failure
from tests.conftest import Lab


def lookup(hostname: str, specs: list[ResolverSpec], family: str = "ipv4") -> list[DnsRecord]:
    async def run() -> list[DnsRecord]:
        async with ResolverSet(specs, timeout=1.0) as resolvers:
            return await resolve(hostname, resolvers, family, Clock())

    return asyncio.run(run())


def test_answers_with_timing(lab: Lab) -> None:
    (record,) = lookup("twitter.test", [parse_resolver_address("lab", lab.dns.address)])

    assert record.failure is None
    assert record.answers == ["127.0.0.1"]
    assert (record.resolver, record.resolver_address, record.query_type) == (
        "lab",
        lab.dns.address,
        "A",
    )
    assert 0 <= record.t0 <= record.t < 1.0


def test_unknown_name_is_nxdomain(lab: Lab) -> None:
    (record,) = lookup("nope.test", [parse_resolver_address("lab", lab.dns.address)])

    assert record.failure == Failure.DNS_NXDOMAIN and record.answers == []


def test_name_without_that_family_is_nodata(lab: Lab) -> None:
    (record,) = lookup("twitter.test", [parse_resolver_address("lab", lab.dns.address)], "ipv6")

    assert record.query_type == "AAAA" and record.failure == Failure.DNS_NODATA


def test_any_family_asks_both_types(lab: Lab) -> None:
    records = lookup("twitter.test", [parse_resolver_address("lab", lab.dns.address)], "any")

    assert [(r.query_type, r.failure) for r in records] == [
        ("A", None),
        ("AAAA", Failure.DNS_NODATA),
    ]


def test_silent_resolver_is_timeout(lab: Lab) -> None:
    (record,) = lookup("twitter.test", [parse_resolver_address("mute", lab.silent_dns.address)])

    assert record.failure == Failure.DNS_TIMEOUT
    assert 0.9 <= record.t - record.t0 < 3.0


def test_resolver_with_nothing_listening_is_unavailable(lab: Lab) -> None:
    spec = ResolverSpec("gone", "127.0.0.1", lab.closed_port)
    (record,) = lookup("twitter.test", [spec])

    assert record.failure == Failure.DNS_UNAVAILABLE


def test_every_resolver_is_asked_in_config_order(lab: Lab) -> None:
    specs = [
        ResolverSpec("system", None),
        parse_resolver_address("lab", lab.dns.address),
        parse_resolver_address("mute", lab.silent_dns.address),
    ]
    # "localhost" comes from /etc/hosts: the system path is exercised with no traffic.
    records = lookup("localhost", specs)

    assert [r.resolver for r in records] == ["system", "lab", "mute"]
    system, labs, mute = records
    assert system.query_type == "A" and "127.0.0.1" in system.answers
    assert labs.failure == Failure.DNS_NXDOMAIN
    assert mute.failure == Failure.DNS_TIMEOUT
