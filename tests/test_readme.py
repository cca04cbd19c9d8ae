"""The README opens with the two commands a newcomer runs; CI runs the second."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).parent.parent


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = text.split("```sh\n", 1)[1].split("```", 1)[0]
    return [line for line in block.splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert text.index("```sh") < text.index("## ")
    demo, tests = readme_commands()
    assert demo.endswith("edgewatch demo")
    assert "pytest" in tests


def test_ci_runs_the_readme_test_command_then_ruff() -> None:
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    _, tests = readme_commands()
    assert tests in ci
    assert ci.index(tests) < ci.index(".venv/bin/ruff check .")
