"""A real Prometheus for the tests, and the daemon as a real subprocess.

Prometheus comes from Debian's package (the README's test command installs
it). Where it is missing the tests skip, except in CI, where they fail. It
can run inside a lab namespace: ``prefix`` is then ``ip netns exec NS``, and
queries go through curl in the same namespace.
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

IN_CI = os.environ.get("CI") == "true"


def require_prometheus() -> None:
    require_tools(("prometheus", "promtool", "curl"), "packages prometheus and curl", "Prometheus")


def require_tools(tools: Sequence[str], packages: str, what: str) -> None:
    """Skip with the reason where ``tools`` are missing; in CI that is a failure instead."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        reason = f"needs {', '.join(missing)} (Debian {packages})"
        if IN_CI:
            pytest.fail(f"CI must run the {what} tests, but it {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def scrape_config(scrape: dict[str, Any], rule_files: Sequence[Path] = ()) -> dict[str, Any]:
    """A Prometheus config scraping ``scrape`` and evaluating rules every second."""
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(path) for path in rule_files],
        "scrape_configs": [{"job_name": "throttle-probe", **scrape}],
    }


class Prometheus:
    """A Prometheus server with its own storage, scraping ``scrape`` every second.

    ``config`` replaces the generated config (a shipped file, say); ``flags``
    are added to the command line, ``env`` to the environment. With a web
    config of TLS and basic auth, ``curl_args`` are what queries need
    (``--cacert``, ``--user``) and ``scheme`` is https.
    """

    def __init__(
        self,
        directory: Path,
        scrape: dict[str, Any],
        prefix: Sequence[str] = (),
        rule_files: Sequence[Path] = (),
        flags: Sequence[str] = (),
        *,
        config: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        scheme: str = "http",
        curl_args: Sequence[str] = (),
    ) -> None:
        self.prefix = list(prefix)
        self.flags = list(flags)
        self.env = env
        self.scheme = scheme
        self.curl_args = list(curl_args)
        self.port = free_port()
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        text = yaml.safe_dump(config or scrape_config(scrape, rule_files))
        (directory / "prometheus.yml").write_text(text)
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Prometheus":
        argv = [
            "prometheus",
            f"--config.file={self.directory / 'prometheus.yml'}",
            f"--storage.{self._storage()}.path={self.directory / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *self.flags,
        ]
        with open(self.directory / "prometheus.log", "wb") as log:
            env = None if self.env is None else {**os.environ, **self.env}
            self._process = subprocess.Popen([*self.prefix, *argv], stdout=log, stderr=log, env=env)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self._get("/-/ready", check=False).endswith(" is Ready.\n"):  # Server or Agent
                return self
            time.sleep(0.2)
        self.__exit__()  # not left running behind the failed test
        raise RuntimeError(f"Prometheus did not start: {self.log()[-2000:]}")

    def _storage(self) -> str:
        """Agent mode refuses the TSDB's flags and takes its own."""
        features = [f.split("=", 1)[1].split(",") for f in self.flags if "feature=" in f]
        return "agent" if any("agent" in names for names in features) else "tsdb"

    def __exit__(self, *exc_info: object) -> None:
        if self._process is not None:
            self._process.terminate()
            self._process.wait(timeout=20)

    def log(self) -> str:
        return (self.directory / "prometheus.log").read_text(errors="replace")

    def _get(self, path: str, *params: str, check: bool = True) -> str:
        argv = [*self.prefix, "curl", "-s", "--max-time", "10", "-G", *self.curl_args]
        argv += [arg for param in params for arg in ("--data-urlencode", param)]
        argv.append(f"{self.scheme}://127.0.0.1:{self.port}{path}")
        done = subprocess.run(argv, capture_output=True, text=True, timeout=20)
        if check and done.returncode != 0:
            raise RuntimeError(f"curl failed: {done.stderr}")
        return done.stdout

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The instant vector ``promql`` gives now: [{"metric": {...}, "value": [t, "v"]}]."""
        answer = json.loads(self._get("/api/v1/query", f"query={promql}"))
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def query_range(self, promql: str, seconds: float, step: float = 5) -> list[dict[str, Any]]:
        """The series ``promql`` gives over the past ``seconds``, as a panel asks for them."""
        now = time.time()
        params = (f"query={promql}", f"start={now - seconds}", f"end={now}", f"step={step}")
        answer = json.loads(self._get("/api/v1/query_range", *params))
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]["result"]
        return result

    def exemplars(self, promql: str, seconds: float) -> list[dict[str, Any]]:
        """The exemplars of the series ``promql`` selects, over the past ``seconds``."""
        now = time.time()
        params = (f"query={promql}", f"start={now - seconds}", f"end={now}")
        answer = json.loads(self._get("/api/v1/query_exemplars", *params))
        assert answer["status"] == "success", answer
        result: list[dict[str, Any]] = answer["data"]
        return result

    def rule(self, name: str) -> dict[str, Any]:
        """The state of the loaded rule ``name`` (health, lastEvaluation, ...)."""
        answer = json.loads(self._get("/api/v1/rules"))
        rules = [r for g in answer["data"]["groups"] for r in g["rules"] if r["name"] == name]
        assert len(rules) == 1, answer
        found: dict[str, Any] = rules[0]
        return found

    def values(self, promql: str, by: str = "target") -> dict[str, float]:
        """``promql``'s samples now, by the value of label ``by``."""
        return {r["metric"].get(by, ""): float(r["value"][1]) for r in self.query(promql)}

    def wait_for(self, promql: str, timeout: float) -> list[dict[str, Any]]:
        """Poll until ``promql`` returns something (a condition such as ``x >= 3``)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.query(promql)
            if result:
                return result
            time.sleep(0.5)
        raise AssertionError(f"{promql} returned nothing within {timeout} s\n{self.log()[-1500:]}")


class Daemon:
    """``throttle-probe run`` as a subprocess, its log in a file."""

    def __init__(self, args: Sequence[str], log: Path, prefix: Sequence[str] = ()) -> None:
        self.argv = [*prefix, sys.executable, "-m", "probe", "run", *args]
        self.log_file = log
        self.process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> "Daemon":
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")

    def wait_for_log(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.log():
                return
            assert self.process is not None and self.process.poll() is None, self.log()
            time.sleep(0.1)
        raise AssertionError(f"{text!r} not in the daemon's log within {timeout} s:\n{self.log()}")
