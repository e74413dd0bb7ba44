"""Paths and loaders shared by the flow tests."""

from __future__ import annotations

import pytest
from flow_paths import CONFIG, FLOWS, ROOT


@pytest.fixture(scope="session")
def shipped():
    """The shipped flows and config, checked, with prompt lengths estimated from text."""
    from ivr.flows.check import flow_files, load_and_check

    result = load_and_check(flow_files(FLOWS), CONFIG, None)
    assert result.ok, "\n".join(map(str, result.errors))
    return result.flowset


@pytest.fixture
def in_root(monkeypatch):
    monkeypatch.chdir(ROOT)
    return ROOT


@pytest.fixture(autouse=True)
def _fresh_logging():
    """``ivr`` commands point structlog at the captured stderr of their test; undo that afterwards."""
    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
