"""Shared test fixtures: paths to the recorded captures and the shared folder."""

from __future__ import annotations

import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CAPTURES = SHARED / "ami-captures"


@pytest.fixture(scope="session")
def captures_dir() -> pathlib.Path:
    assert CAPTURES.is_dir(), f"recorded AMI traffic missing at {CAPTURES}"
    return CAPTURES
