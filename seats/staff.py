"""The roster's people are the ACD's agents, and what the headcount can cover.

A roster that names ``liaoyuan-001`` while the ACD knows ``1701`` cannot be
checked against log-ins, and one without skills cannot say whether Yanbian has
a Korean speaker on duty at 03:00.  So the people come from the ACD's own
config (``acd.config.load``; acd.yaml is never parsed here), and the plan's
headcount beyond them is filled with people whose ids say they are not ACD
agents yet:

    new-<center>-<NNN>    NNN counts from 001 within the center; agent_id ""

A skill other than the base language ``zh`` is wanted on duty (at least one
person) in a center whenever one of the center's agents holding it is meant to
be there: around the clock, unless every holder has ``hours`` in acd.yaml, in
which case during those hours.
"""

from __future__ import annotations

import re

from seats.roster import Person, Roster
from seats.shifts import LabourRules

NEW_PREFIX = "new-"
BASE_SKILL = "zh"
NEW_SKILLS = {"zh": 3}    # what the ACD gives an agent listed without skills
_DAYS = {"mon": 0, "tue": 1, "wed": 2, "thu": 3, "fri": 4, "sat": 5, "sun": 6}
_SPAN = re.compile(r"(?:(\w{3})(?:-(\w{3}))?\s+)?(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})")


def new_person_id(center: str, k: int) -> str:
    return f"{NEW_PREFIX}{center}-{k:03d}"


def is_acd_agent(person: Person) -> bool:
    return bool(person.agent_id)


def load_agents(path=None) -> list:
    """The ACD's agents, read by the ACD's own loader (so its validation and defaults apply)."""
    from acd import config as acd_config

    return list(acd_config.load(path).agents)


def people_for(sizes, pattern: str, agents: list, patterns: dict | None = None) -> list[Person]:
    """Each center's ACD agents, then generated people up to the rule's headcount.

    An agent with ``hours`` (a department expert, say) gets the day-only
    pattern when there is one: rostering an expert at night helps nobody.
    """
    people = []
    for size in sizes:
        mine = [a for a in agents if a.center == size.center]
        for a in mine:
            own = pattern
            if _hours_of(a) and patterns and "day_only" in patterns:
                own = "day_only"
            people.append(Person(a.id, a.name or a.id, a.center, a.id, own, dict(a.skills or NEW_SKILLS)))
        for k in range(1, size.operators - len(mine) + 1):
            pid = new_person_id(size.center, k)
            people.append(Person(pid, pid, size.center, "", pattern, dict(NEW_SKILLS)))
    return people


def _hours_of(agent) -> list[tuple[set[int], int, int]]:
    """An agent's working hours as (weekdays, start min, end min); [] when it has none.

    Read leniently (``"08:30-17:30"``, ``"mon-fri 08:30-17:30"``, a list of
    those, or ``{from, to, days}``) because acd.yaml's ``hours`` belong to the ACD.
    """
    raw = getattr(agent, "hours", None)
    if not raw:
        return []
    items = raw if isinstance(raw, (list, tuple)) else [raw]
    out = []
    for item in items:
        if isinstance(item, dict):
            item = f"{item.get('days', '')} {item.get('from', item.get('start', ''))}-{item.get('to', item.get('end', ''))}"
        text = str(item).strip().lower()
        if text.startswith("weekdays"):
            text = "mon-fri" + text[len("weekdays"):]
        m = _SPAN.search(text)
        if not m:
            continue
        first, last = _DAYS.get(m[1] or "mon", 0), _DAYS.get(m[2] or (m[1] or "sun"), 6)
        days = set(range(first, last + 1)) if first <= last else set(range(first, 7)) | set(range(last + 1))
        out.append((days, int(m[3]) * 60 + int(m[4]), int(m[5]) * 60 + int(m[6])))
    return out


def skill_requirement(roster: Roster, agents: list) -> dict[str, dict[str, list[int]]]:
    """Per center and skill, 1 in each interval a holder of the skill is meant to be there."""
    out: dict[str, dict[str, list[int]]] = {}
    centers = {p.center for p in roster.people}
    for center in sorted(centers):
        holders: dict[str, list] = {}
        for a in agents:
            if a.center == center:
                for s in a.skills:
                    if s != BASE_SKILL:
                        holders.setdefault(s, []).append(a)
        per = {}
        for skill, who in sorted(holders.items()):
            spans = [_hours_of(a) for a in who]
            if not all(spans):
                per[skill] = [1] * roster.intervals
            else:
                per[skill] = _intervals_in(roster, [s for one in spans for s in one])
        if per:
            out[center] = per
    return out


def _intervals_in(roster: Roster, spans) -> list[int]:
    need = [0] * roster.intervals
    for i in range(roster.intervals):
        t = roster.interval_time(i)
        minute = t.hour * 60 + t.minute
        if any(t.weekday() in days and a <= minute < b for days, a, b in spans):
            need[i] = 1
    return need


def capacity(roster: Roster, rules: LabourRules, per_seat: int) -> dict:
    """What the headcount can staff against what the requirement asks, before any solve.

    Each person works at most the law's weekly hours on average, so a center
    short by design is told so up front and by how much, not discovered later.
    """
    weeks = roster.days / 7
    seat_hours = per_seat * rules.hours_week
    centers = {}
    for center in roster.centers():
        n = sum(1 for p in roster.people if p.center == center)
        need = roster.requirement.get(center) or []
        needed_h = sum(need) * roster.interval_min / 60
        can_h = n * rules.hours_week * weeks
        centers[center] = {"people": n, "can_agent_hours": round(can_h, 1),
                           "needed_agent_hours": round(needed_h, 1),
                           "short_agent_hours": round(max(0.0, needed_h - can_h), 1)}
    short = sum(c["short_agent_hours"] for c in centers.values())
    return {"per_seat": per_seat, "hours_week": rules.hours_week, "seat_hours_covered": seat_hours,
            "seat_hours_week": 168, "share": round(seat_hours / 168, 4), "days": roster.days,
            "short_agent_hours": round(short, 1), "short_agent_hours_week": round(short / weeks, 1),
            "centers": centers}


def capacity_line(cap: dict) -> str:
    head = (f"{cap['per_seat']} call-takers per seat at {cap['hours_week']:g} h/week cover "
            f"{min(cap['seat_hours_covered'], 168):g} of 168 seat-hours ({min(cap['share'], 1):.0%})")
    if cap["short_agent_hours"] <= 0:
        return head + "; the headcount can cover the requirement"
    worst = max(cap["centers"].items(), key=lambda kv: kv[1]["short_agent_hours"])
    return (head + f"; the roster will be short by at least {cap['short_agent_hours_week']:g} agent-hours a week "
            f"({cap['short_agent_hours']:g} over {cap['days']} days; most in {worst[0]}: "
            f"{worst[1]['short_agent_hours']:g})")
