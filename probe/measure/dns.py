"""DNS step: ask every configured resolver for a host's addresses (and its HTTPS records).

Public resolvers are queried with aiodns (c-ares), one query per record type,
so the record keeps what each resolver said. ``system`` goes through
``getaddrinfo``, the path every application on the machine takes
(/etc/hosts, nsswitch, the ISP's resolver), so it shows what users get.

A name's HTTPS records (RFC 9460) are how its DNS offers HTTP/3, as
browsers read it: asked of the first resolver c-ares can ask (getaddrinfo
knows no record types), beside the addresses.
"""

import asyncio
import socket
from collections.abc import Sequence
from types import TracebackType

import aiodns
import aiodns.error
import pycares

from probe.config import ResolverSpec
from probe.measure.timing import Clock, Deadline, Interrupt
from probe.records import DnsRecord, Failure, HttpsLookup, ServiceBinding

QUERY_TYPES = {"ipv4": ("A",), "ipv6": ("AAAA",), "any": ("A", "AAAA")}
_SYSTEM_FAMILY = {"ipv4": socket.AF_INET, "ipv6": socket.AF_INET6, "any": socket.AF_UNSPEC}
_SYSTEM_QUERY_TYPE = {"ipv4": "A", "ipv6": "AAAA", "any": "ANY"}

_ARES_FAILURES = {
    aiodns.error.ARES_ENOTFOUND: Failure.DNS_NXDOMAIN,
    aiodns.error.ARES_ENONAME: Failure.DNS_NXDOMAIN,
    aiodns.error.ARES_ENODATA: Failure.DNS_NODATA,
    aiodns.error.ARES_ETIMEOUT: Failure.DNS_TIMEOUT,
    aiodns.error.ARES_ECONNREFUSED: Failure.DNS_UNAVAILABLE,
    aiodns.error.ARES_ESERVFAIL: Failure.DNS_SERVFAIL,
    aiodns.error.ARES_EREFUSED: Failure.DNS_REFUSED,
}
_GAI_FAILURES = {
    socket.EAI_NONAME: Failure.DNS_NXDOMAIN,
    socket.EAI_AGAIN: Failure.DNS_UNAVAILABLE,
}
for _name in ("EAI_NODATA", "EAI_ADDRFAMILY"):  # glibc extensions, absent elsewhere
    if hasattr(socket, _name):
        _GAI_FAILURES[getattr(socket, _name)] = Failure.DNS_NODATA


# aiodns names the record types it takes by string and does not list HTTPS;
# c-ares parses it (pycares 4.4 and later), so the name is added to its map.
if hasattr(pycares, "QUERY_TYPE_HTTPS"):
    aiodns.query_type_map.setdefault("HTTPS", pycares.QUERY_TYPE_HTTPS)
_ALPN, _PORT = 1, 3  # SvcParamKeys (RFC 9460, section 14.3.2)


class ResolverSet:
    """One aiodns channel per configured resolver, shared by a whole round."""

    def __init__(self, specs: Sequence[ResolverSpec], timeout: float) -> None:
        self.specs = list(specs)
        self.timeout = timeout
        self._channels: dict[str, aiodns.DNSResolver] = {}

    async def __aenter__(self) -> "ResolverSet":
        for spec in self.specs:
            if spec.host is not None:
                # One try with the whole time-out: the record then tells how long
                # the one query took, not a sum of c-ares retries.
                self._channels[spec.name] = aiodns.DNSResolver(
                    nameservers=[spec.address], timeout=self.timeout, tries=1
                )
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: object, tb: TracebackType | None
    ) -> None:
        for channel in self._channels.values():
            await channel.close()

    def channel(self, spec: ResolverSpec) -> aiodns.DNSResolver | None:
        return self._channels.get(spec.name)


async def resolve(
    hostname: str,
    resolvers: ResolverSet,
    family: str,
    clock: Clock,
    interrupt: Interrupt | None = None,
) -> list[DnsRecord]:
    """Ask every resolver at once; one record per resolver and query type."""
    queries = []
    for spec in resolvers.specs:
        channel = resolvers.channel(spec)
        if channel is None:
            queries.append(
                _query_system(spec, hostname, family, resolvers.timeout, clock, interrupt)
            )
        else:
            for query_type in QUERY_TYPES[family]:
                queries.append(
                    _query_channel(
                        spec, channel, hostname, query_type, resolvers.timeout, clock, interrupt
                    )
                )
    return list(await asyncio.gather(*queries))


async def _query_channel(
    spec: ResolverSpec,
    channel: aiodns.DNSResolver,
    hostname: str,
    query_type: str,
    timeout: float,
    clock: Clock,
    interrupt: Interrupt | None,
) -> DnsRecord:
    record = DnsRecord(spec.name, spec.address, hostname, query_type, t0=clock.now(), t=0.0)
    result, record.failure = await _ask(channel, hostname, query_type, timeout, interrupt)
    if result is not None:
        # A and AAAA only: the CNAMEs of the chain lead to them.
        record.answers = [
            str(answer.data.addr)
            for answer in result.answer
            if isinstance(answer.data, pycares.ARecordData | pycares.AAAARecordData)
        ]
        if not record.answers:
            record.failure = Failure.DNS_NODATA
    record.t = clock.now()
    return record


async def _ask(
    channel: aiodns.DNSResolver,
    hostname: str,
    query_type: str,
    timeout: float,
    interrupt: Interrupt | None,
) -> tuple[pycares.DNSResult | None, Failure | None]:
    """One query to a c-ares channel: its answer, or the failure it ended in."""
    deadline = Deadline(timeout + 1.0, interrupt)  # c-ares times out first; this is a guard
    try:
        async with deadline:
            return await channel.query_dns(hostname, query_type), None
    except aiodns.error.DNSError as error:
        return None, _ARES_FAILURES.get(error.args[0], Failure.DNS_ERROR)
    except TimeoutError:
        return None, Failure.INTERRUPTED if deadline.interrupted else Failure.DNS_TIMEOUT


async def _query_system(
    spec: ResolverSpec,
    hostname: str,
    family: str,
    timeout: float,
    clock: Clock,
    interrupt: Interrupt | None,
) -> DnsRecord:
    query_type = _SYSTEM_QUERY_TYPE[family]
    record = DnsRecord(spec.name, spec.address, hostname, query_type, t0=clock.now(), t=0.0)
    loop = asyncio.get_running_loop()
    deadline = Deadline(timeout, interrupt)
    try:
        async with deadline:
            infos = await loop.getaddrinfo(
                hostname, None, family=_SYSTEM_FAMILY[family], type=socket.SOCK_STREAM
            )
        # getaddrinfo repeats an address once per socket type; keep the first of each.
        record.answers = list(dict.fromkeys(str(info[4][0]) for info in infos))
    except socket.gaierror as error:
        record.failure = _GAI_FAILURES.get(error.errno or 0, Failure.DNS_ERROR)
    except TimeoutError:
        record.failure = Failure.INTERRUPTED if deadline.interrupted else Failure.DNS_TIMEOUT
    record.t = clock.now()
    return record


async def look_up_https(
    hostname: str, resolvers: ResolverSet, clock: Clock, interrupt: Interrupt | None = None
) -> HttpsLookup | None:
    """The name's HTTPS records from the first resolver c-ares can ask (None: there is none)."""
    spec = next((spec for spec in resolvers.specs if resolvers.channel(spec) is not None), None)
    channel = None if spec is None else resolvers.channel(spec)
    if spec is None or channel is None or "HTTPS" not in aiodns.query_type_map:
        return None
    lookup = HttpsLookup(spec.name, spec.address, hostname, t0=clock.now(), t=0.0)
    result, lookup.failure = await _ask(channel, hostname, "HTTPS", resolvers.timeout, interrupt)
    if result is not None:
        lookup.bindings = [
            _binding(answer.data, answer.ttl)
            for answer in result.answer
            if isinstance(answer.data, pycares.HTTPSRecordData)
        ]
        if not lookup.bindings:
            lookup.failure = Failure.DNS_NODATA
    lookup.t = clock.now()
    return lookup


def _binding(data: pycares.HTTPSRecordData, ttl: int) -> ServiceBinding:
    """A record's priority, target, and the two parameters the probe reads: alpn and port."""
    binding = ServiceBinding(data.priority, data.target.rstrip("."), ttl=ttl)
    for key, value in data.params:
        if key == _ALPN:
            binding.alpn = _alpn_ids(value)
        elif key == _PORT and len(value) == 2:
            binding.port = int.from_bytes(value, "big")
    return binding


def _alpn_ids(value: bytes) -> list[str]:
    """The alpn parameter's wire form: each protocol id prefixed by its length."""
    ids, at = [], 0
    while at < len(value):
        length = value[at]
        ids.append(value[at + 1 : at + 1 + length].decode("ascii", "replace"))
        at += 1 + length
    return ids
