"""A small DNS server for the lab and the tests (built on dnslib).

It answers A and AAAA from a zone (a dict of name to addresses; a ``*.``
entry covers every subdomain), NXDOMAIN for the rest, and can be told to stay
silent to provoke resolver time-outs, or to answer some names with an error
code (``rcodes``: SERVFAIL, REFUSED, NOTIMP, ...), as broken or censoring
resolvers do. Given a zone file, it re-reads the file
whenever it changes: that is how the lab's ISP resolver starts and stops lying.
"""

import ipaddress
import json
import os
from pathlib import Path

from dnslib import AAAA, QTYPE, RCODE, RR, A, DNSRecord
from dnslib.server import BaseResolver, DNSHandler, DNSLogger, DNSServer

from probe.wording import host_port

_TTL = 60
Zone = dict[str, list[str]]


def _normalise(zone: Zone) -> Zone:
    return {name.lower().rstrip("."): list(addrs) for name, addrs in zone.items()}


def lookup(zone: Zone, name: str) -> list[str] | None:
    """Addresses for ``name``: an exact entry first, then the closest ``*.`` wildcard."""
    name = name.lower().rstrip(".")
    if name in zone:
        return zone[name]
    labels = name.split(".")
    for cut in range(1, len(labels)):
        wildcard = "*." + ".".join(labels[cut:])
        if wildcard in zone:
            return zone[wildcard]
    return None


class _ZoneResolver(BaseResolver):  # type: ignore[misc]
    def __init__(
        self,
        zone: Zone,
        silent: bool,
        zone_file: Path | None,
        rcodes: dict[str, str],
        services: Zone,
    ) -> None:
        self.zone = _normalise(zone)
        self.services = _normalise(services)
        self.rcodes = {name.lower().rstrip("."): code for name, code in rcodes.items()}
        self.silent = silent
        self.zone_file = zone_file
        self._mtime: int | None = None

    def resolve(self, request: DNSRecord, handler: DNSHandler) -> DNSRecord | None:
        if self.silent:
            return None
        self._reload_if_changed()
        reply = request.reply()
        code = self.rcodes.get(str(request.q.qname).lower().rstrip("."))
        if code is not None:
            reply.header.rcode = getattr(RCODE, code)
            return reply
        addresses = lookup(self.zone, str(request.q.qname))
        if addresses is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        if request.q.qtype == QTYPE.HTTPS:
            for rdata in lookup(self.services, str(request.q.qname)) or []:
                reply.add_answer(*RR.fromZone(f"{request.q.qname} {_TTL} IN HTTPS {rdata}"))
            return reply
        for address in addresses:
            version = ipaddress.ip_address(address).version
            if request.q.qtype == QTYPE.A and version == 4:
                reply.add_answer(RR(request.q.qname, QTYPE.A, rdata=A(address), ttl=_TTL))
            elif request.q.qtype == QTYPE.AAAA and version == 6:
                reply.add_answer(RR(request.q.qname, QTYPE.AAAA, rdata=AAAA(address), ttl=_TTL))
        return reply

    def _reload_if_changed(self) -> None:
        if self.zone_file is None:
            return
        mtime = os.stat(self.zone_file).st_mtime_ns
        if mtime != self._mtime:
            self.zone = _normalise(json.loads(self.zone_file.read_text()))
            self._mtime = mtime


class _QuietLogger(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


class LabDNSServer:
    """A UDP DNS server on ``host:port`` (port 0 picks a free one).

    ``services``: HTTPS records by name (wildcards as in the zone), each in its
    zone-file form (``1 . alpn=h3 port=443``); a name without any has none.
    """

    def __init__(
        self,
        zone: Zone | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        silent: bool = False,
        zone_file: Path | None = None,
        rcodes: dict[str, str] | None = None,
        services: Zone | None = None,
    ) -> None:
        self._resolver = _ZoneResolver(zone or {}, silent, zone_file, rcodes or {}, services or {})
        self._server = DNSServer(self._resolver, address=host, port=port, logger=_QuietLogger())
        self.host = host
        self.port: int = self._server.server.server_address[1]

    @property
    def address(self) -> str:
        """The address in the ``host:port`` form that resolver settings take."""
        return host_port(self.host, self.port)

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


def main(argv: list[str] | None = None) -> None:
    """``python -m probe.lab.dnsserver --host H --port P --zone-file F``, in the foreground."""
    import argparse
    import threading

    parser = argparse.ArgumentParser(description="the lab's DNS server")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=53)
    parser.add_argument("--zone-file", type=Path, required=True, help="JSON: name -> [address]")
    args = parser.parse_args(argv)
    server = LabDNSServer(host=args.host, port=args.port, zone_file=args.zone_file)
    server.start()
    print(server.port, flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
