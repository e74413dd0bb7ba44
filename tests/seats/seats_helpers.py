"""Helpers shared by the seats tests (a uniquely named module, importable from any test file here)."""

from __future__ import annotations

import datetime as dt

from seats import build
from seats.roster import Person

MONDAY = dt.date(2026, 1, 5)


def make_roster(cfg, n: int, days: int = 7, center: str = "tonghua", pattern: str = "three_shift",
                need: int | list[int] = 0):
    people = [Person(f"p{k:02d}", f"话务员{k}", center, f"agent-{k:02d}", pattern) for k in range(n)]
    r = build.new_roster(people, MONDAY, days, 30, cfg)
    r.requirement = {center: list(need) if isinstance(need, list) else [need] * r.intervals}
    r.requirement_source = "test"
    return r
