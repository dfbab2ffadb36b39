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
    lint = run("ruff", "check", "probe", "tests", "bench", "grafana")
    assert lint.returncode == 0, lint.stdout + lint.stderr
    style = run("ruff", "format", "--check", "probe", "tests", "bench", "grafana")
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


def test_every_relative_link_in_the_docs_resolves() -> None:
    pages = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
    broken = []
    for page in pages:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", page.read_text()):
            if not (page.parent / target).exists():
                broken.append(f"{page.name}: {target}")
    assert broken == []
