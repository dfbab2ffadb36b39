"""Real servers on loopback for the tests: TLS origins, a DNS server, a test CA."""

import contextlib
import socket
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from probe.lab.dnsserver import LabDNSServer
from probe.lab.origin import OriginServer
from probe.lab.origin3 import Http3Origin
from probe.lab.pki import LabPKI

# What a test may need beyond Python and loopback (pyproject.toml lists them);
# every test marked with none of them is in the quick tier (`pytest -m quick`).
NEEDS = frozenset({"lab", "root", "prometheus", "chromium", "image"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if not NEEDS & {mark.name for mark in item.iter_markers()}:
            item.add_marker(pytest.mark.quick)


# Names the test CA vouches for, all resolved by the test DNS server to 127.0.0.1.
PLATFORM_NAMES = ["twitter.test", "pbs.twimg.test", "tiktok.test", "control.test"]
WRONG_NAME = "wrong.test"  # served with a certificate for another name


@dataclass
class Lab:
    pki: LabPKI
    origin: OriginServer  # answers every PLATFORM_NAME
    h3: Http3Origin  # the same paths over HTTP/3, on the origin's port number (UDP)
    wrong_cert: OriginServer  # a certificate that does not name WRONG_NAME
    silent_tls: OriginServer  # accepts TCP, never answers the ClientHello
    dns: LabDNSServer
    silent_dns: LabDNSServer  # never answers
    closed_port: int  # nothing listens: connections are refused
    unaccepting_port: int  # a full accept queue: SYNs go unanswered

    def url(self, host: str, path: str, server: OriginServer | None = None) -> str:
        return f"https://{host}:{(server or self.origin).port}{path}"

    def config_text(self, targets: dict[str, list[tuple[str, str]]], settings: str = "") -> str:
        """targets.yaml text for ``{group: [(name, url), ...]}``; control* groups are controls."""
        lines = [
            "settings:",
            f"  ca_bundle: {self.pki.ca_file}",
            "  timeouts: {dns: 2, connect: 2, tls: 2, stall: 2, transfer: 10}",
            textwrap.indent(settings, "  ").rstrip(),
            "resolvers:",
            f'  lab: "{self.dns.address}"',
            "groups:",
        ]
        for group, entries in targets.items():
            role = "control" if group.startswith("control") else "target"
            lines += [f"  {group}:", f"    role: {role}", "    targets:"]
            lines += [f'      - {{name: {name}, url: "{url}"}}' for name, url in entries]
        return "\n".join(line for line in lines if line) + "\n"


def _free_port() -> int:
    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        return int(probe_socket.getsockname()[1])


@contextlib.contextmanager
def _unaccepting_listener() -> Iterator[int]:
    """A port whose accept queue is full, so that new SYNs are dropped (no root needed).

    With a backlog of 0 the kernel queues one connection; two connections that
    are never accepted fill it, and Linux then drops further SYNs silently.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(2):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    try:
        yield port
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    pki = LabPKI(tmp_path_factory.mktemp("pki"), PLATFORM_NAMES)
    zone = {name: ["127.0.0.1"] for name in [*PLATFORM_NAMES, WRONG_NAME]}
    with contextlib.ExitStack() as stack:
        origin = stack.enter_context(OriginServer(pki.server_context()))
        lab = Lab(
            pki=pki,
            origin=origin,
            h3=stack.enter_context(
                Http3Origin(pki.cert_chain_file, pki.key_file, port=origin.port)
            ),
            # Signed by the trusted test CA, but for another name.
            wrong_cert=stack.enter_context(OriginServer(pki.server_context(["someone-else.test"]))),
            silent_tls=stack.enter_context(OriginServer(None, tls_handshake=False)),
            dns=stack.enter_context(LabDNSServer(zone)),
            silent_dns=stack.enter_context(LabDNSServer(zone, silent=True)),
            closed_port=_free_port(),
            unaccepting_port=stack.enter_context(_unaccepting_listener()),
        )
        yield lab


@pytest.fixture
def config_file(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "targets.yaml"
