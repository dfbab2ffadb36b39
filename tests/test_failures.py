"""Each failure name comes from a real peer that misbehaves that way.

Resolvers answering SERVFAIL, REFUSED and NOTIMP; servers that answer a
ClientHello or a request in another protocol; replay servers that cut a
stream or answer nonsense; and, in a network namespace made for the test
(root), a route that does not exist and a firewall that rejects with an
ICMP error no other name covers. The proxy variables of the environment are
shown to be ignored.
"""

import asyncio
import contextlib
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.config import parse_resolver_address
from probe.lab.dnsserver import LabDNSServer
from probe.measure.dns import ResolverSet, resolve
from probe.measure.replay_session import ReplaySession, ReplaySettings, replay
from probe.measure.timing import Clock
from probe.measure.transfer import TransferSettings, download, make_ssl_context
from probe.records import Direction, Failure, ReplayRecord, TransferRecord, Variant
from tests.conftest import Lab
from tests.lab_support import IN_CI

FAST = TransferSettings(connect_timeout=2, tls_timeout=2, stall_timeout=2, transfer_timeout=5)
SECRET = b"a replay secret for the failure tests"


@pytest.mark.parametrize(
    ("rcode", "failure"),
    [
        ("SERVFAIL", Failure.DNS_SERVFAIL),
        ("REFUSED", Failure.DNS_REFUSED),
        ("NOTIMP", Failure.DNS_ERROR),  # any other error a resolver answers
    ],
)
def test_resolver_error_codes(rcode: str, failure: Failure) -> None:
    async def run(address: str) -> Failure | None:
        spec = parse_resolver_address("broken", address)
        async with ResolverSet([spec], timeout=2.0) as resolvers:
            (record,) = await resolve("twitter.test", resolvers, "ipv4", Clock())
        return record.failure

    with LabDNSServer({"twitter.test": ["127.0.0.1"]}, rcodes={"twitter.test": rcode}) as dns:
        assert asyncio.run(run(dns.address)) == failure


@contextlib.contextmanager
def answering(reply: bytes, tls: ssl.SSLContext | None = None) -> Iterator[int]:
    """A server on loopback that reads a little and answers ``reply``, then closes."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve() -> None:
        with contextlib.suppress(OSError):
            while True:
                connection, _ = listener.accept()
                with contextlib.suppress(OSError, ssl.SSLError):
                    if tls is not None:
                        connection = tls.wrap_socket(connection, server_side=True)
                    connection.recv(4096)
                    connection.sendall(reply)
                connection.close()

    threading.Thread(target=serve, daemon=True).start()
    try:
        yield listener.getsockname()[1]
    finally:
        listener.close()


def fetch(lab: Lab, port: int) -> TransferRecord:
    async def run() -> TransferRecord:
        context = make_ssl_context(lab.pki.ca_file)
        url = f"https://twitter.test:{port}/"
        return await download(url, "127.0.0.1", FAST, context, Clock())

    return asyncio.run(run())


def test_a_server_that_answers_the_client_hello_in_plain_http_is_tls_error(lab: Lab) -> None:
    with answering(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n") as port:
        record = fetch(lab, port)

    assert record.failure == Failure.TLS_ERROR
    assert [p.name for p in record.phases] == ["connect", "tls"]


def test_a_response_that_is_not_http_is_http_error(lab: Lab) -> None:
    with answering(b"SSH-2.0-OpenSSH_9.2\r\n\r\n", lab.pki.server_context()) as port:
        record = fetch(lab, port)

    assert record.failure == Failure.HTTP_ERROR
    assert record.duration("tls") is not None  # the handshake went through


async def replay_against(handler: object, direction: Direction) -> ReplayRecord:
    server = await asyncio.start_server(handler, "127.0.0.1", 0)  # type: ignore[arg-type]
    async with server:
        port = server.sockets[0].getsockname()[1]
        target = ReplaySession("127.0.0.1", port, "x.com", Variant.PLAIN, direction, 100_000)
        settings = ReplaySettings(connect_timeout=2, stall_timeout=2, transfer_timeout=5)
        return await replay(target, SECRET, settings, Clock())


def test_a_replay_stream_cut_short_is_replay_truncated() -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)  # the ClientHello
        writer.write(b"\x17\x03\x03\x40\x00" + bytes(1000))  # a record begun, then the end
        await writer.drain()
        writer.close()

    record = asyncio.run(replay_against(cut, Direction.DOWNLOAD))

    assert record.failure == Failure.REPLAY_TRUNCATED
    assert record.bytes == 1005


def test_a_replay_go_ahead_that_makes_no_sense_is_replay_error() -> None:
    async def nonsense(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(4096)
        writer.write(b"\x15\x03\x03\x00\x02\x02\x28")  # a TLS alert, not the go-ahead
        await writer.drain()
        await asyncio.sleep(1)
        writer.close()

    record = asyncio.run(replay_against(nonsense, Direction.UPLOAD))

    assert record.failure == Failure.REPLAY_ERROR


@pytest.fixture
def namespace() -> Iterator[str]:
    """A network namespace with only its loopback up: no route anywhere else."""
    missing = [tool for tool in ("ip", "iptables") if shutil.which(tool) is None]
    if os.geteuid() != 0 or missing:
        reason = "needs root, ip and iptables for a network namespace"
        if IN_CI:
            pytest.fail(f"CI must run this test, but it {reason}")
        pytest.skip(reason)
    name = f"tpf-{os.getpid() % 100000}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], check=False)


DOWNLOAD_IN_NAMESPACE = """
import asyncio, sys
from probe.measure.timing import Clock
from probe.measure.transfer import TransferSettings, download, make_ssl_context
settings = TransferSettings(connect_timeout=2, tls_timeout=2, stall_timeout=2, transfer_timeout=5)
async def main():
    return await download(sys.argv[1], sys.argv[2], settings, make_ssl_context(), Clock())
print(asyncio.run(main()).failure)
"""


def failure_in(namespace: str, url: str, address: str) -> str:
    script = [sys.executable, "-c", DOWNLOAD_IN_NAMESPACE, url, address]
    done = subprocess.run(
        ["ip", "netns", "exec", namespace, *script],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


@pytest.mark.root
def test_no_route_to_the_address_is_network_unreachable(namespace: str) -> None:
    # 192.0.2.1 (TEST-NET-1): the namespace has no route to it, so nothing is sent.
    assert failure_in(namespace, "https://x.test/", "192.0.2.1") == Failure.NETWORK_UNREACHABLE


@pytest.mark.root
def test_a_connect_rejected_with_an_unusual_icmp_error_is_tcp_error(namespace: str) -> None:
    rule = ["-p", "tcp", "--dport", "4433", "-j", "REJECT"]
    rule += ["--reject-with", "icmp-proto-unreachable"]
    subprocess.run(
        ["ip", "netns", "exec", namespace, "iptables", "-A", "OUTPUT", *rule], check=True
    )

    assert failure_in(namespace, "https://x.test:4433/", "127.0.0.1") == Failure.TCP_ERROR


def test_proxy_variables_in_the_environment_are_ignored(lab: Lab, tmp_path: Path) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        nowhere = f"http://127.0.0.1:{closed.getsockname()[1]}"
    targets = tmp_path / "targets.yaml"
    targets.write_text(
        lab.config_text({"control": [("ctl", lab.url("control.test", "/bytes/50000"))]})
    )
    proxies = {name: nowhere for name in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "ALL_PROXY")}

    done = subprocess.run(
        [sys.executable, "-m", "probe", "check", "--targets", str(targets), "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **proxies},
    )

    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["targets"]
    transfer = entry["transfer"]
    assert entry["failure"] is None and transfer["bytes"] > 50000 * (transfer["requests"] - 1)
