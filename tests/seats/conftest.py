"""Fixtures for seats/: small rosters solved once per module to keep the suite fast."""

from __future__ import annotations

import copy
import pathlib

import pytest

from seats.config import load_seats_config
from seats_helpers import make_roster

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLE_FORECAST = ROOT / "config" / "forecast-sample.csv"


@pytest.fixture(scope="session")
def cfg():
    return load_seats_config()


@pytest.fixture(scope="module")
def solved_center(cfg):
    """30 call-takers, one week, a requirement they can meet: solved by CP-SAT."""
    from seats.solver import solve_center

    r = make_roster(cfg, 30, need=0)
    # day needs more than night: 8 on duty 08-24, 5 at night
    need = []
    for i in range(r.intervals):
        hour = (i * 30 // 60) % 24
        need.append(8 if 8 <= hour < 24 else 5)
    r.requirement = {"tonghua": need}
    stats = solve_center(r, "tonghua", time_limit_s=8, workers=2)
    return r, stats


@pytest.fixture
def roster_copy(solved_center):
    return copy.deepcopy(solved_center[0])
