"""Files out of a roster: one CSV for the office, one iCalendar file per call-taker.

Times are local China time (Asia/Shanghai, UTC+8, no daylight saving).  The
calendar carries its own VTIMEZONE so phones and mail clients agree on it.
"""

from __future__ import annotations

import csv
import datetime as dt
import pathlib
import re

from seats.roster import Roster

CSV_HEADER = ["person", "name", "agent_id", "center", "date", "shift", "shift_name", "start", "end",
              "overtime_min"]


def duty_rows(roster: Roster):
    people = {p.id: p for p in roster.people}
    base = dt.datetime.combine(roster.start, dt.time())
    for (pid, day), duty in sorted(roster.duties.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        p = people[pid]
        s, e = roster.duty_span(day, duty)
        yield {
            "person": pid, "name": p.name, "agent_id": p.agent_id, "center": p.center,
            "date": roster.date(day).isoformat(), "shift": duty.shift,
            "shift_name": roster.shifts[duty.shift].name,
            "start": (base + dt.timedelta(minutes=s)).isoformat(timespec="minutes"),
            "end": (base + dt.timedelta(minutes=e)).isoformat(timespec="minutes"),
            "overtime_min": duty.overtime_min,
        }


def write_csv(roster: Roster, path: pathlib.Path | str) -> int:
    n = 0
    with pathlib.Path(path).open("w", newline="", encoding="utf-8") as handle:
        w = csv.DictWriter(handle, CSV_HEADER)
        w.writeheader()
        for row in duty_rows(roster):
            w.writerow(row)
            n += 1
    return n


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def _fold(line: str) -> str:
    """RFC 5545 3.1: lines longer than 75 octets continue on a line starting with a space."""
    out, chunk = [], b""
    for ch in line:
        enc = ch.encode("utf-8")
        if len(chunk) + len(enc) > (75 if not out else 74):
            out.append(chunk.decode("utf-8"))
            chunk = b""
        chunk += enc
    out.append(chunk.decode("utf-8"))
    return "\r\n ".join(out)


_VTIMEZONE = [
    "BEGIN:VTIMEZONE", "TZID:Asia/Shanghai", "BEGIN:STANDARD", "DTSTART:19700101T000000",
    "TZOFFSETFROM:+0800", "TZOFFSETTO:+0800", "TZNAME:CST", "END:STANDARD", "END:VTIMEZONE",
]


def ics_for(roster: Roster, pid: str, stamp: dt.datetime | None = None, rows: list | None = None) -> str:
    """One person's calendar; ``rows`` (their duty rows) saves a pass over the roster."""
    person = roster.person(pid)
    stamp = (stamp or dt.datetime.now(dt.timezone.utc)).strftime("%Y%m%dT%H%M%SZ")
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//hotline12345//seats//ZH", "CALSCALE:GREGORIAN",
             f"X-WR-CALNAME:{_escape(person.name + ' 12345 排班')}", *_VTIMEZONE]
    for row in rows if rows is not None else duty_rows(roster):
        if row["person"] != pid:
            continue
        start = dt.datetime.fromisoformat(row["start"]).strftime("%Y%m%dT%H%M%S")
        end = dt.datetime.fromisoformat(row["end"]).strftime("%Y%m%dT%H%M%S")
        summary = f"{row['shift_name']} ({row['shift']}) {row['center']}"
        if row["overtime_min"]:
            summary += f" +{row['overtime_min']} min overtime"
        lines += [
            "BEGIN:VEVENT",
            f"UID:{pid}-{row['date']}@seats.hotline12345",
            f"DTSTAMP:{stamp}",
            f"DTSTART;TZID=Asia/Shanghai:{start}",
            f"DTEND;TZID=Asia/Shanghai:{end}",
            f"SUMMARY:{_escape(summary)}",
            "END:VEVENT",
        ]
    lines.append("END:VCALENDAR")
    return "\r\n".join(_fold(line) for line in lines) + "\r\n"


def write_ics(roster: Roster, directory: pathlib.Path | str, stamp: dt.datetime | None = None) -> int:
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    by_person: dict[str, list] = {p.id: [] for p in roster.people}
    for row in duty_rows(roster):
        by_person[row["person"]].append(row)
    for p in roster.people:
        safe = re.sub(r"[^A-Za-z0-9_.-]", "_", p.id)
        text = ics_for(roster, p.id, stamp, by_person[p.id])
        (directory / f"{safe}.ics").write_bytes(text.encode("utf-8"))
    return len(roster.people)
