"""Shared fixtures: IG's own example output, one file per gadget."""

from __future__ import annotations

from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures" / "ig"

#: fixture file -> gadget family
GADGET_FILES = {
    "trace_tcp": "tcp",
    "trace_dns": "dns",
    "trace_sni": "sni",
    "trace_exec": "exec",
    "audit_seccomp": "seccomp",
    "trace_open": "open",
    "trace_bind": "bind",
    "trace_signal": "signal",
    "trace_capabilities": "capabilities",
    "trace_oomkill": "oomkill",
}


def ig_lines(gadget: str) -> list[bytes]:
    return (FIXTURES / f"{gadget}.jsonl").read_bytes().splitlines()


def all_ig_lines() -> list[tuple[str, bytes]]:
    return [(fam, line) for gadget, fam in GADGET_FILES.items() for line in ig_lines(gadget)]


@pytest.fixture
def fixture_lines() -> list[tuple[str, bytes]]:
    return all_ig_lines()
