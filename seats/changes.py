"""Supervisors' day-to-day changes: leave, sickness, swaps, overtime, moves.

A change is applied to a copy; the copy is re-checked against the labour rules
and the coverage requirement, and what got worse is reported before anything
is saved.  Every saved change is kept in the roster with who, when and why.
"""

from __future__ import annotations

import copy
import datetime as dt
from dataclasses import dataclass, field

from seats.checks import Violation, check
from seats.errors import SeatsError
from seats.roster import Duty, Roster

KINDS = ("leave", "swap", "overtime", "move", "assign", "unassign")
LEAVE_KINDS = ("leave", "sick", "annual", "personal", "training")


@dataclass
class Impact:
    new_violations: list[Violation] = field(default_factory=list)
    fixed_violations: list[Violation] = field(default_factory=list)
    coverage: list[dict] = field(default_factory=list)  # spans that got worse

    @property
    def breaks(self) -> bool:
        return bool(self.new_violations or self.coverage)

    def lines(self) -> list[str]:
        out = [f"breaks {v}" for v in self.new_violations]
        for c in self.coverage:
            out.append(
                f"breaks coverage at {c['center']} {c['from']} to {c['to']}: "
                f"{c['max_short']} more short (worst: {c['needed']} needed, {c['on_duty']} on duty)"
            )
        out += [f"fixes {v}" for v in self.fixed_violations]
        return out

    def as_dict(self) -> dict:
        return {
            "breaks": self.breaks,
            "new_violations": [v.as_dict() for v in self.new_violations],
            "fixed_violations": [v.as_dict() for v in self.fixed_violations],
            "coverage": self.coverage,
        }


def _dates(roster: Roster, first: str, last: str | None) -> list[int]:
    a = roster.day_index(first)
    b = roster.day_index(last) if last else a
    if b < a:
        raise SeatsError(f"--to {last} is before --from {first}")
    return list(range(a, b + 1))


def apply(roster: Roster, change: dict) -> Roster:
    """Return a changed copy; the original is untouched."""
    r = copy.deepcopy(roster)
    kind = change.get("kind")
    if kind not in KINDS:
        raise SeatsError(f"unknown change {kind!r} (known: {', '.join(KINDS)})")
    pid = change.get("person")
    r.person(pid)  # raises if unknown
    if kind == "leave":
        leave_kind = change.get("leave", "leave")
        if leave_kind not in LEAVE_KINDS:
            raise SeatsError(f"leave kind must be one of {', '.join(LEAVE_KINDS)}, got {leave_kind!r}")
        for d in _dates(r, change["from"], change.get("to")):
            r.leave[(pid, d)] = leave_kind
            r.duties.pop((pid, d), None)
    elif kind == "swap":
        other = change["with"]
        r.person(other)
        if other == pid:
            raise SeatsError("cannot swap a call-taker with themself")
        for d in _dates(r, change["from"], change.get("to")):
            a, b = r.duties.pop((pid, d), None), r.duties.pop((other, d), None)
            if a is None and b is None:
                raise SeatsError(f"neither {pid} nor {other} works on {r.date(d)}: nothing to swap")
            if a:
                r.duties[(other, d)] = a
            if b:
                r.duties[(pid, d)] = b
    elif kind == "overtime":
        d = r.day_index(change["date"])
        if change.get("shift"):
            if change["shift"] not in r.shifts:
                raise SeatsError(f"unknown shift {change['shift']!r} (known: {', '.join(r.shifts)})")
            if (pid, d) in r.duties:
                raise SeatsError(f"{pid} already works {r.duties[(pid, d)].shift} on {r.date(d)}; "
                                 "use --hours to extend it")
            r.duties[(pid, d)] = Duty(change["shift"])
        else:
            hours = float(change.get("hours", 0))
            if hours <= 0:
                raise SeatsError(f"--hours must be > 0, got {hours:g}")
            duty = r.duties.get((pid, d))
            if duty is None:
                raise SeatsError(f"{pid} has no shift on {r.date(d)} to extend; give --shift for an extra shift")
            duty.overtime_min += int(round(hours * 60))
    elif kind == "move":
        to = change["to_center"]
        if to == r.person(pid).center:
            raise SeatsError(f"{pid} already belongs to {to}")
        if to not in r.centers():
            raise SeatsError(f"unknown center {to!r} in this roster (known: {', '.join(r.centers())})")
        r.person(pid).center = to
    elif kind == "assign":
        d = r.day_index(change["date"])
        if change["shift"] not in r.shifts:
            raise SeatsError(f"unknown shift {change['shift']!r} (known: {', '.join(r.shifts)})")
        r.duties[(pid, d)] = Duty(change["shift"])
    elif kind == "unassign":
        d = r.day_index(change["date"])
        if r.duties.pop((pid, d), None) is None:
            raise SeatsError(f"{pid} has no shift on {r.date(d)}")
    return r


def impact(before: Roster, after: Roster) -> Impact:
    old, new = set(check(before)), set(check(after))
    imp = Impact(sorted(new - old), sorted(old - new))
    for center in after.centers():
        need = after.requirement.get(center)
        if not need:
            continue
        cov_b, cov_a = before.coverage(center), after.coverage(center)
        span = None
        for i in range(after.intervals):
            worse = max(0, need[i] - cov_a[i]) - max(0, need[i] - cov_b[i])
            if worse > 0:
                if span and span["_last"] == i - 1:
                    span["_last"] = i
                    if worse > span["max_short"]:
                        span.update(max_short=worse, needed=need[i], on_duty=cov_a[i])
                else:
                    span = {"center": center, "_first": i, "_last": i, "max_short": worse,
                            "needed": need[i], "on_duty": cov_a[i]}
                    imp.coverage.append(span)
        for s in imp.coverage:
            if "_first" in s:
                s["from"] = after.interval_time(s.pop("_first")).strftime("%Y-%m-%d %H:%M")
                s["to"] = after.interval_time(s.pop("_last") + 1).strftime("%Y-%m-%d %H:%M")
    return imp


def record(after: Roster, change: dict, imp: Impact, by: str, why: str, forced: bool,
           now: dt.datetime | None = None) -> dict:
    if not by.strip():
        raise SeatsError("--by is required: who makes this change")
    if not why.strip():
        raise SeatsError("--why is required: why this change is made")
    now = now or dt.datetime.now(dt.timezone.utc)
    entry = {
        "id": len(after.changes) + 1,
        "at": now.isoformat(timespec="seconds"),
        "by": by,
        "why": why,
        "change": change,
        "forced": forced,
        "breaks": imp.lines() if imp.breaks else [],
    }
    after.changes.append(entry)
    return entry
