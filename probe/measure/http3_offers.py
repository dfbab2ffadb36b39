"""Which servers offer HTTP/3, as a browser learns it: the Alt-Svc header of
their TCP answer, or an HTTPS record of their name.

A browser tries QUIC only where the server said it may (RFC 7838's Alt-Svc,
``h3=":443"; ma=86400``), and remembers the offer for its ``ma`` seconds
(24 hours by default); or where the name's DNS offers ``h3`` in an HTTPS
record (RFC 9460), for the record's TTL. The probe does the same: a server
that never offered HTTP/3 is "not offered", never "blocked on QUIC". Only
offers for the same host are taken (an empty host before the port, a record
whose target is the name itself): an alternative on another host is another
server, which would measure something else.
"""

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from probe.records import HttpsLookup

DEFAULT_MAX_AGE = 24 * 3600.0  # RFC 7838, 3.1: an offer without ma= lasts a day
_H3_OFFER = re.compile(r'(?:^|,)\s*h3="([^"]*)"([^,]*)')
_MAX_AGE = re.compile(r";\s*ma=(\d+)")


@dataclass(frozen=True)
class Offer:
    port: int
    max_age: float  # seconds the offer holds from when it was seen


def parse_alt_svc(header: str | None) -> Offer | None:
    """The ``h3`` offer for the same host in an Alt-Svc header, if it holds one."""
    if not header or header.strip() == "clear":
        return None
    for match in _H3_OFFER.finditer(header):
        host, _, port = match.group(1).rpartition(":")
        if host or not port.isdigit() or not 0 < int(port) < 65536:
            continue
        age = _MAX_AGE.search(match.group(2))
        return Offer(int(port), float(age.group(1)) if age else DEFAULT_MAX_AGE)
    return None


@dataclass
class Http3Offers:
    """The HTTP/3 offers seen, by host name, until each one's max age runs out.

    Kept across rounds (by the runner), so that a server that offered HTTP/3
    once is measured over QUIC in later rounds too, when its TCP answer is
    blocked this time.
    """

    clock: Callable[[], float] = time.monotonic
    _offers: dict[str, tuple[int, float]] = field(default_factory=dict)  # host -> (port, until)

    def learn(self, host: str, alt_svc: str | None) -> None:
        """Note what ``host``'s answer said (``Alt-Svc: clear`` withdraws an offer)."""
        if alt_svc is not None and alt_svc.strip() == "clear":
            self._offers.pop(host, None)
            return
        offer = parse_alt_svc(alt_svc)
        if offer is not None:
            self._offers[host] = (offer.port, self.clock() + offer.max_age)

    def learn_records(self, host: str, lookup: HttpsLookup | None, origin_port: int) -> None:
        """Note what ``host``'s HTTPS records offer (``origin_port``: where the port
        parameter is absent). An Alt-Svc offer already held is kept: the server's own
        answer is the fresher word."""
        offer = h3_in_records(lookup, origin_port)
        if offer is not None and self.port(host) is None:
            # Used in the round it was answered in, whatever its TTL: it was just asked.
            self._offers[host] = (offer.port, self.clock() + max(offer.max_age, 1.0))

    def port(self, host: str) -> int | None:
        """The UDP port ``host`` offers HTTP/3 on, or None if it offers none (now)."""
        known = self._offers.get(host)
        if known is None:
            return None
        port, until = known
        if self.clock() >= until:
            del self._offers[host]
            return None
        return port


def h3_in_records(lookup: HttpsLookup | None, origin_port: int) -> Offer | None:
    """The ``h3`` offer in a name's HTTPS records for the name itself, if they hold one;
    the most preferred (the lowest priority above 0) first."""
    if lookup is None:
        return None
    serving = sorted((b for b in lookup.bindings if b.priority > 0), key=lambda b: b.priority)
    for binding in serving:
        if binding.target in ("", ".") and "h3" in binding.alpn:
            return Offer(binding.port or origin_port, float(binding.ttl))
    return None
