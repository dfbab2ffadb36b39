"""The lab's certificate authority: one CA, and server certificates for any names."""

import ssl
from pathlib import Path

import trustme


class LabPKI:
    """A fresh CA, its certificate written to ``ca_file`` for clients to trust.

    The server certificate for ``names`` is also written out (chain and key), so
    that servers in other processes or namespaces can load it.
    """

    def __init__(self, directory: Path, names: list[str]) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self._authority = trustme.CA(organization_name="throttle-probe lab")
        self.names = list(names)
        self.ca_file = directory / "ca.pem"
        self.cert_chain_file = directory / "server-chain.pem"
        self.key_file = directory / "server-key.pem"
        self._authority.cert_pem.write_to_path(str(self.ca_file))
        leaf = self._authority.issue_cert(*self.names)
        leaf.private_key_pem.write_to_path(str(self.key_file))
        with open(self.cert_chain_file, "wb") as chain:
            for blob in leaf.cert_chain_pems:
                chain.write(blob.bytes())

    def server_context(self, names: list[str] | None = None) -> ssl.SSLContext:
        """A server context with the certificate for ``names`` (default: the lab's names)."""
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if names is None:
            context.load_cert_chain(self.cert_chain_file, self.key_file)
        else:
            self._authority.issue_cert(*names).configure_cert(context)
        return context
