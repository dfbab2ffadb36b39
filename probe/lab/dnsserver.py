"""An authoritative-enough DNS server for the lab and the tests (built on dnslib).

It answers A and AAAA for the names it is given, NXDOMAIN for the rest, and can
be told to stay silent (to provoke resolver time-outs).
"""

import ipaddress

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

_TTL = 60


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(self, zone: dict[str, list[str]], silent: bool) -> None:
        self.zone = {name.lower().rstrip("."): addrs for name, addrs in zone.items()}
        self.silent = silent

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord | None:
        if self.silent:
            return None
        reply = request.reply()
        name = str(request.q.qname).lower().rstrip(".")
        addresses = self.zone.get(name)
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for address in addresses:
            version = ipaddress.ip_address(address).version
            if request.q.qtype == QTYPE.A and version == 4:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=_TTL))
            elif request.q.qtype == QTYPE.AAAA and version == 6:
                reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=_TTL))
        return reply


class _QuietLogger(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


class LabDNSServer:
    """A UDP DNS server on ``host:port`` (port 0 picks a free one)."""

    def __init__(
        self,
        zone: dict[str, list[str]],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        silent: bool = False,
    ) -> None:
        self._resolver = _ZoneResolver(zone, silent)
        self._server = DNSServer(self._resolver, address=host, port=port, logger=_QuietLogger())
        self.host = host
        self.port: int = self._server.server.server_address[1]

    @property
    def address(self) -> str:
        """The address in the ``host:port`` form that resolver settings take."""
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def start(self) -> "LabDNSServer":
        self._server.start_thread()
        return self

    def stop(self) -> None:
        self._server.stop()
        self._server.server.server_close()

    def __enter__(self) -> "LabDNSServer":
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
