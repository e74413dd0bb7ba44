"""A roster: who works which shift on which day, per center, and why it changed.

Plain data with a JSON file form.  Coverage (people on duty per interval) is
computed here from the duties; rule checks live in :mod:`seats.checks`.
"""

from __future__ import annotations

import datetime as dt
import json
import pathlib
from dataclasses import dataclass, field

from seats.errors import SeatsError
from seats.shifts import LabourRules, Pattern, Shift

FORMAT = "hotline12345-roster/1"


@dataclass
class Person:
    id: str
    name: str
    center: str
    agent_id: str = ""        # the ACD's agent id ("" for people not yet in acd.yaml)
    pattern: str = "three_shift"
    skills: dict[str, int] = field(default_factory=dict)  # skill -> level, as the ACD has them


@dataclass
class Duty:
    shift: str
    overtime_min: int = 0     # added to the end of the shift by a supervisor


@dataclass
class Roster:
    start: dt.date
    days: int
    interval_min: int
    shifts: dict[str, Shift]
    patterns: dict[str, Pattern]
    rules: LabourRules
    people: list[Person]
    duties: dict[tuple[str, int], Duty] = field(default_factory=dict)
    leave: dict[tuple[str, int], str] = field(default_factory=dict)
    requirement: dict[str, list[int]] = field(default_factory=dict)  # center -> heads per interval
    requirement_source: str = ""
    # center -> skill -> people with that skill wanted on duty per interval
    skill_requirement: dict[str, dict[str, list[int]]] = field(default_factory=dict)
    changes: list[dict] = field(default_factory=list)
    solver: dict = field(default_factory=dict)

    # ---- lookup -------------------------------------------------------
    @property
    def intervals(self) -> int:
        return self.days * 1440 // self.interval_min

    def person(self, pid: str) -> Person:
        for p in self.people:
            if p.id == pid:
                return p
        raise SeatsError(f"no call-taker {pid!r} in this roster")

    def day_index(self, date: dt.date | str) -> int:
        if isinstance(date, str):
            try:
                date = dt.date.fromisoformat(date)
            except ValueError:
                raise SeatsError(f"{date!r} is not a YYYY-MM-DD date") from None
        i = (date - self.start).days
        if not 0 <= i < self.days:
            end = self.start + dt.timedelta(days=self.days - 1)
            raise SeatsError(f"{date} is outside the roster ({self.start} to {end})")
        return i

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def centers(self) -> list[str]:
        seen = []
        for p in self.people:
            if p.center not in seen:
                seen.append(p.center)
        for c in self.requirement:
            if c not in seen:
                seen.append(c)
        return seen

    def duty_span(self, day: int, duty: Duty) -> tuple[int, int]:
        """Start and end of a duty in minutes from the roster's start."""
        s = self.shifts[duty.shift]
        start = day * 1440 + s.start_min
        return start, start + s.minutes + duty.overtime_min

    def person_duties(self, pid: str) -> list[tuple[int, Duty]]:
        return sorted((d, duty) for (p, d), duty in self.duties.items() if p == pid)

    # ---- coverage ------------------------------------------------------
    def coverage(self, center: str, skill: str | None = None) -> list[int]:
        """People on duty in each interval (partly covered intervals count if half is covered).

        With ``skill``, only the people who have it: the ACD routes a Korean
        call to a Korean speaker, so a head count alone does not say it is served.
        """
        n = self.intervals
        step = self.interval_min
        diff = [0] * (n + 1)
        members = {p.id for p in self.people if p.center == center and (skill is None or skill in p.skills)}
        for (pid, day), duty in self.duties.items():
            if pid not in members:
                continue
            start, end = self.duty_span(day, duty)
            first = (start + step // 2) // step
            last = min(n, (end + step // 2) // step)
            if first < last:
                diff[first] += 1
                diff[last] -= 1
        out, run = [], 0
        for i in range(n):
            run += diff[i]
            out.append(run)
        return out

    def shortfalls(self, center: str) -> list[tuple[int, int, int]]:
        """(interval, needed, on duty) wherever coverage is below the requirement."""
        need = self.requirement.get(center)
        if not need:
            return []
        cov = self.coverage(center)
        return [(i, need[i], cov[i]) for i in range(self.intervals) if cov[i] < need[i]]

    def skill_shortfalls(self, center: str, skill: str) -> list[tuple[int, int, int]]:
        need = self.skill_requirement.get(center, {}).get(skill)
        if not need:
            return []
        cov = self.coverage(center, skill)
        return [(i, need[i], cov[i]) for i in range(self.intervals) if cov[i] < need[i]]

    def interval_time(self, i: int) -> dt.datetime:
        return dt.datetime.combine(self.start, dt.time()) + dt.timedelta(minutes=i * self.interval_min)

    # ---- file form -----------------------------------------------------
    def to_json(self) -> dict:
        return {
            "format": FORMAT,
            "start": self.start.isoformat(),
            "days": self.days,
            "interval_min": self.interval_min,
            "shifts": {
                c: {"name": s.name, "start_min": s.start_min, "minutes": s.minutes, "night": s.night}
                for c, s in self.shifts.items()
            },
            "patterns": {
                p.id: {"name": p.name, "shifts": list(p.shifts), "cycle": p.cycle}
                for p in self.patterns.values()
            },
            "rules": self.rules.as_dict(),
            "people": [vars(p) for p in self.people],
            "duties": [
                {"person": pid, "date": self.date(day).isoformat(), "shift": d.shift,
                 **({"overtime_min": d.overtime_min} if d.overtime_min else {})}
                for (pid, day), d in sorted(self.duties.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            ],
            "leave": [
                {"person": pid, "date": self.date(day).isoformat(), "kind": kind}
                for (pid, day), kind in sorted(self.leave.items(), key=lambda kv: (kv[0][1], kv[0][0]))
            ],
            "requirement": self.requirement,
            "requirement_source": self.requirement_source,
            "skill_requirement": self.skill_requirement,
            "solver": self.solver,
            "changes": self.changes,
        }

    @classmethod
    def from_json(cls, data: dict, source: str = "<roster>") -> "Roster":
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise SeatsError(f"not a roster file (expected format {FORMAT})", where=source)
        try:
            start = dt.date.fromisoformat(data["start"])
            roster = cls(
                start=start,
                days=int(data["days"]),
                interval_min=int(data["interval_min"]),
                shifts={c: Shift(c, s["name"], s["start_min"], s["minutes"], s["night"])
                        for c, s in data["shifts"].items()},
                patterns={k: Pattern(k, p["name"], tuple(p["shifts"]), p.get("cycle"))
                          for k, p in data["patterns"].items()},
                rules=LabourRules.from_dict(data["rules"]),
                people=[Person(**p) for p in data["people"]],
                requirement={k: list(v) for k, v in data.get("requirement", {}).items()},
                requirement_source=data.get("requirement_source", ""),
                skill_requirement={c: {k: list(v) for k, v in per.items()}
                                   for c, per in data.get("skill_requirement", {}).items()},
                changes=list(data.get("changes", [])),
                solver=dict(data.get("solver", {})),
            )
            for d in data["duties"]:
                day = (dt.date.fromisoformat(d["date"]) - start).days
                roster.duties[(d["person"], day)] = Duty(d["shift"], int(d.get("overtime_min", 0)))
            for lv in data.get("leave", []):
                day = (dt.date.fromisoformat(lv["date"]) - start).days
                roster.leave[(lv["person"], day)] = lv["kind"]
        except (KeyError, TypeError, ValueError) as exc:
            raise SeatsError(f"damaged roster file ({type(exc).__name__}: {exc})", where=source) from None
        return roster


def save(roster: Roster, path: pathlib.Path | str) -> None:
    path = pathlib.Path(path)
    tmp = path.with_suffix(path.suffix + ".tmp")
    try:
        tmp.write_text(json.dumps(roster.to_json(), ensure_ascii=False, indent=1), encoding="utf-8")
        tmp.replace(path)  # a crash mid-write never leaves half a roster
    except OSError as exc:
        raise SeatsError(f"cannot write roster: {exc.strerror or exc}", where=str(path)) from None


def load(path: pathlib.Path | str) -> Roster:
    from seats.files import read_text

    path = pathlib.Path(path)
    text = read_text(path, "roster")
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SeatsError(f"broken JSON: {exc.msg}", where=f"{path}:{exc.lineno}") from None
    return Roster.from_json(data, str(path))


def on_duty(roster: Roster, when: dt.datetime) -> dict[str, list[dict]]:
    """Who the roster expects on duty at ``when`` (local China time), per center.

    This is what the ACD is fed: agent ids expected logged in, with the shift
    they are on and when it ends.  People not yet in acd.yaml have no agent id
    ("" here): they are listed so a supervisor sees the gap, but nobody can
    expect them to log in.
    """
    base = dt.datetime.combine(roster.start, dt.time())
    minute = (when.replace(tzinfo=None) - base).total_seconds() / 60
    people = {p.id: p for p in roster.people}
    out: dict[str, list[dict]] = {c: [] for c in roster.centers()}
    for (pid, day), duty in sorted(roster.duties.items()):
        start, end = roster.duty_span(day, duty)
        if start <= minute < end:
            p = people[pid]
            out.setdefault(p.center, []).append({
                "person": pid, "agent_id": p.agent_id, "shift": duty.shift, "skills": sorted(p.skills),
                "until": (base + dt.timedelta(minutes=end)).isoformat(timespec="minutes"),
            })
    return out
