"""``--web-config FILE``: TLS and basic auth for the metrics endpoint.

The file has the format of the Prometheus exporter toolkit, so that one file
serves this probe and the node exporter beside it::

    tls_server_config:
      cert_file: probe.crt
      key_file: probe.key
      client_auth_type: RequireAndVerifyClientCert   # optional, with client_ca_file
      client_ca_file: ca.crt
      min_version: TLS12                             # optional: TLS12 or TLS13
    basic_auth_users:
      prometheus: $2y$10$...                         # a bcrypt hash (htpasswd -nBC 10 "")

Relative paths are taken from the file's folder. Keys this probe does not
implement (cipher suites, HTTP/2 settings, extra headers) are refused by
name rather than silently ignored.
"""

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from probe.config import ConfigError, read_small_text, yaml_error_message
from probe.wording import os_reason

ClientAuth = Literal[
    "NoClientCert",
    "RequestClientCert",
    "RequireAnyClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
]
_VERIFY_MODE = {
    "NoClientCert": ssl.CERT_NONE,
    # Python cannot ask for a certificate without checking it: these check it when given.
    "RequestClientCert": ssl.CERT_OPTIONAL,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAnyClientCert": ssl.CERT_REQUIRED,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
_TLS_VERSIONS = {"TLS12": ssl.TLSVersion.TLSv1_2, "TLS13": ssl.TLSVersion.TLSv1_3}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TlsServerConfig(_Strict):
    cert_file: Path
    key_file: Path
    client_auth_type: ClientAuth = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: Literal["TLS12", "TLS13"] = "TLS12"
    max_version: Literal["TLS12", "TLS13"] = "TLS13"


class _WebConfigFile(_Strict):
    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, str] = {}


@dataclass(frozen=True)
class WebConfig:
    """What the metrics server needs: a TLS context (or None) and bcrypt hashes by user."""

    ssl_context: ssl.SSLContext | None
    users: dict[str, bytes]


def load_web_config(path: Path) -> WebConfig:
    """Read and check ``path``; ConfigError (one sentence) if it cannot be used."""
    label = str(path)
    text = read_small_text(path, label, "the web config")
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise ConfigError(yaml_error_message(label, error)) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{label}: the web config must be a mapping.")
    try:
        parsed = _WebConfigFile.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        what = "is not supported here" if first["type"] == "extra_forbidden" else first["msg"]
        raise ConfigError(f"{label}: {where}: {what}.") from None
    users = {}
    for user, hashed in parsed.basic_auth_users.items():
        if not hashed.startswith(("$2a$", "$2b$", "$2y$")):
            raise ConfigError(f"{label}: basic_auth_users.{user}: not a bcrypt hash.")
        users[user] = hashed.encode()
    tls = parsed.tls_server_config
    context = None if tls is None else _ssl_context(tls, path.parent, label)
    return WebConfig(context, users)


def _ssl_context(tls: TlsServerConfig, base: Path, label: str) -> ssl.SSLContext:
    def resolve(file: Path) -> Path:
        return file if file.is_absolute() else base / file

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = _TLS_VERSIONS[tls.min_version]
    context.maximum_version = _TLS_VERSIONS[tls.max_version]
    try:
        context.load_cert_chain(resolve(tls.cert_file), resolve(tls.key_file))
    except (OSError, ssl.SSLError) as error:
        what = "tls_server_config.cert_file/key_file"
        raise ConfigError(f"{label}: {what}: cannot load: {os_reason(error)}.") from None
    context.verify_mode = _VERIFY_MODE[tls.client_auth_type]
    if context.verify_mode != ssl.CERT_NONE:
        if tls.client_ca_file is None:
            need = "client_auth_type needs client_ca_file"
            raise ConfigError(f"{label}: tls_server_config: {need}.")
        try:
            context.load_verify_locations(cafile=resolve(tls.client_ca_file))
        except (OSError, ssl.SSLError) as error:
            where = "tls_server_config.client_ca_file"
            raise ConfigError(f"{label}: {where}: cannot load: {os_reason(error)}.") from None
    return context
