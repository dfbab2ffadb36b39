"""The repository keeps its promises: lint, types, and one test command everywhere."""

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *args], cwd=REPO, capture_output=True, text=True, timeout=300
    )


def test_ruff_finds_nothing() -> None:
    lint = run("ruff", "check", "probe", "tests", "bench")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    style = run("ruff", "format", "--check", "probe", "tests", "bench")
    assert style.returncode == 0, style.stdout + style.stderr


def test_mypy_strict_finds_nothing() -> None:
    types = run("mypy")
    assert types.returncode == 0, types.stdout + types.stderr


def test_ci_runs_the_readme_test_command() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Run the tests", 1)[1]
    (command,) = re.findall(r"^    (apt-get .+)$", section, flags=re.MULTILINE)[:1]
    ci_lines = (REPO / ".ci" / "run").read_text().splitlines()
    assert command in ci_lines
