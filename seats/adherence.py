"""Roster against reality: were the rostered call-takers logged in to the ACD?

The ACD's agent log is read from a file, JSONL or CSV, one event per line:

    {"agent_id": "1101", "event": "login", "ts": "2026-01-05T07:58:00+08:00"}
    agent_id,event,ts

``event`` is ``login`` or ``logout``; ``ts`` is ISO 8601, local China time when
it carries no offset.  Roster people are matched to ACD agents by
``agent_id``: a roster built from acd.yaml has the ACD's own ids ("1701"),
and its people not yet in acd.yaml (``new-<center>-NNN``, no agent id) are
counted apart, not reported absent.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import pathlib
from collections import defaultdict
from dataclasses import dataclass

from seats.errors import SeatsError
from seats.files import read_text
from seats.roster import Roster

CHINA = dt.timezone(dt.timedelta(hours=8), "CST")


@dataclass(frozen=True)
class Event:
    agent_id: str
    event: str
    ts: dt.datetime  # naive local China time


def _parse_ts(text: str, where: str) -> dt.datetime:
    try:
        ts = dt.datetime.fromisoformat(str(text).strip().replace("Z", "+00:00"))
    except ValueError:
        raise SeatsError(f"ts {text!r} is not an ISO 8601 date-time", where=where) from None
    if ts.tzinfo is not None:
        ts = ts.astimezone(CHINA).replace(tzinfo=None)
    return ts


def _event(agent: object, event: object, ts: object, where: str) -> Event:
    agent = str(agent or "").strip()
    if not agent:
        raise SeatsError("agent_id is empty", where=where)
    event = str(event or "").strip().lower()
    if event not in ("login", "logout"):
        raise SeatsError(f"event must be login or logout, got {event!r}", where=where)
    return Event(agent, event, _parse_ts(ts, where))


def read_agent_log(path: pathlib.Path | str) -> list[Event]:
    path = pathlib.Path(path)
    text = read_text(path, "agent log")
    events = []
    first = next((ln for ln in text.splitlines() if ln.strip()), "")
    if first.lstrip().startswith("{"):
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            where = f"{path}:{n}"
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise SeatsError(f"broken JSON line: {exc.msg}", where=where) from None
            if not isinstance(obj, dict):
                raise SeatsError("each line must be a JSON object", where=where)
            events.append(_event(obj.get("agent_id"), obj.get("event"), obj.get("ts"), where))
    else:
        reader = csv.DictReader(text.splitlines())
        missing = {"agent_id", "event", "ts"} - set(reader.fieldnames or [])
        if missing:
            raise SeatsError(f"header needs columns agent_id,event,ts (missing {', '.join(sorted(missing))})",
                             where=f"{path}:1")
        for row in reader:
            events.append(_event(row["agent_id"], row["event"], row["ts"], f"{path}:{reader.line_num}"))
    events.sort(key=lambda e: e.ts)
    return events


def sessions(events: list[Event], until: dt.datetime) -> dict[str, list[tuple[dt.datetime, dt.datetime]]]:
    """Logged-in spans per agent; a login without logout lasts until ``until``."""
    open_at: dict[str, dt.datetime] = {}
    out: dict[str, list] = defaultdict(list)
    for e in events:
        if e.event == "login":
            open_at.setdefault(e.agent_id, e.ts)
        elif e.agent_id in open_at:
            out[e.agent_id].append((open_at.pop(e.agent_id), e.ts))
    for agent, start in open_at.items():
        if until > start:
            out[agent].append((start, until))
    return out


def _overlap(a0, a1, spans) -> float:
    return sum(max(0.0, (min(a1, s1) - max(a0, s0)).total_seconds()) for s0, s1 in spans) / 60


def adherence(
    roster: Roster, events: list[Event], *, grace_min: float = 5.0,
    window: tuple[dt.datetime, dt.datetime] | None = None,
) -> dict:
    """Per rostered duty in the window: minutes logged in, late, early, absent."""
    if window is None:
        if not events:
            raise SeatsError("the agent log has no events and no window was given")
        window = (events[0].ts, events[-1].ts)
    w0, w1 = window
    spans = sessions(events, w1)
    people = {p.id: p for p in roster.people}
    base = dt.datetime.combine(roster.start, dt.time())
    grace = dt.timedelta(minutes=grace_min)
    duties = []
    not_acd = 0
    per_person: dict[str, dict] = {}
    for (pid, day), duty in sorted(roster.duties.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        s, e = roster.duty_span(day, duty)
        start, end = base + dt.timedelta(minutes=s), base + dt.timedelta(minutes=e)
        if start < w0 or end > w1:
            continue  # only duties wholly inside the log's time range are judged
        p = people[pid]
        if not p.agent_id:
            not_acd += 1  # a new-<center>-NNN person: nobody can log in as them yet
            continue
        agent_spans = spans.get(p.agent_id, [])
        logged = _overlap(start, end, agent_spans)
        scheduled = (end - start).total_seconds() / 60
        inside = [(max(a, start), min(b, end)) for a, b in agent_spans if b > start and a < end]
        first_in = min((a for a, _ in inside), default=None)
        last_out = max((b for _, b in inside), default=None)
        status = "absent" if logged == 0 else "ok"
        late = first_in is not None and first_in > start + grace
        early = last_out is not None and last_out < end - grace
        if status == "ok" and (late or early):
            status = "late" if late and not early else ("early" if early and not late else "late+early")
        row = {
            "person": pid, "agent_id": p.agent_id, "center": p.center, "date": roster.date(day).isoformat(),
            "shift": duty.shift, "start": start.isoformat(timespec="minutes"),
            "end": end.isoformat(timespec="minutes"), "scheduled_min": round(scheduled),
            "logged_min": round(logged, 1), "adherence": round(logged / scheduled, 4) if scheduled else 1.0,
            "status": status,
        }
        duties.append(row)
        agg = per_person.setdefault(pid, {"person": pid, "agent_id": p.agent_id, "center": p.center,
                                          "scheduled_min": 0, "logged_min": 0.0, "absent": 0, "late": 0,
                                          "early": 0})
        agg["scheduled_min"] += round(scheduled)
        agg["logged_min"] += logged
        agg["absent"] += status == "absent"
        agg["late"] += "late" in status
        agg["early"] += "early" in status
    for agg in per_person.values():
        agg["logged_min"] = round(agg["logged_min"], 1)
        agg["adherence"] = round(agg["logged_min"] / agg["scheduled_min"], 4) if agg["scheduled_min"] else 1.0
    # logged-in agents nobody rostered, and time logged in outside any duty
    rostered_agents = {p.agent_id for p in roster.people if p.agent_id}
    unknown = sorted(a for a in spans if a not in rostered_agents)
    scheduled_total = sum(r["scheduled_min"] for r in duties)
    logged_total = sum(r["logged_min"] for r in duties)
    return {
        "window": [w0.isoformat(timespec="minutes"), w1.isoformat(timespec="minutes")],
        "grace_min": grace_min,
        "duties": duties,
        "people": sorted(per_person.values(), key=lambda a: (a["adherence"], a["person"])),
        "unrostered_agents": unknown,
        "duties_without_agent": not_acd,
        "total": {
            "duties": len(duties),
            "scheduled_min": scheduled_total,
            "logged_min": round(logged_total, 1),
            "adherence": round(logged_total / scheduled_total, 4) if scheduled_total else 1.0,
            "absent": sum(1 for r in duties if r["status"] == "absent"),
            "late": sum(1 for r in duties if "late" in r["status"]),
            "early": sum(1 for r in duties if "early" in r["status"]),
        },
    }
