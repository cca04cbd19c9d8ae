"""Fixtures for the IG supervisor tests."""

from __future__ import annotations

import logging

import pytest


@pytest.fixture(autouse=True)
def _ig_debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    """Keep the supervisor's log in failure reports: it says why a child died."""
    caplog.set_level(logging.DEBUG, logger="edgewatch.ig")
