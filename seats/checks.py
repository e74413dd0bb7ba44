"""Check a roster against the labour rules and its coverage requirement.

Kept apart from the solver on purpose: the solver's model and this checker are
two independent readings of the same rules, so a solver bug shows up as a
violation here, and every supervisor change is re-checked the same way.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import asdict, dataclass

from seats.roster import Roster


@dataclass(frozen=True, order=True)
class Violation:
    rule: str
    person: str
    date: str
    detail: str
    kind: str = "law"  # law | policy | fairness

    def as_dict(self) -> dict:
        return asdict(self)

    def __str__(self) -> str:
        who = f"{self.person} " if self.person else ""
        return f"[{self.kind}:{self.rule}] {who}{self.date}: {self.detail}"


def _overtime_cap_h(roster: Roster) -> float:
    # the law caps overtime per month; a horizon of other length gets its share
    return roster.rules.max_overtime_h_month * max(roster.days, 1) / 30.0


def _by_person(roster: Roster) -> dict[str, list]:
    index: dict[str, list] = defaultdict(list)
    for (pid, day), duty in roster.duties.items():
        index[pid].append((day, duty))
    for v in index.values():
        v.sort(key=lambda dd: dd[0])
    return index


def check_person(roster: Roster, pid: str, duties: list | None = None) -> list[Violation]:
    r = roster.rules
    out: list[Violation] = []
    duties = roster.person_duties(pid) if duties is None else duties
    date = lambda d: roster.date(d).isoformat()  # noqa: E731
    for day, duty in duties:
        shift = roster.shifts[duty.shift]
        if (pid, day) in roster.leave:
            out.append(Violation("on_leave", pid, date(day),
                                 f"on {roster.leave[(pid, day)]} but rostered for {duty.shift}"))
        if shift.minutes > r.max_hours_day * 60:
            out.append(Violation("hours_day", pid, date(day),
                                 f"shift {duty.shift} is {shift.minutes / 60:g} h, above {r.max_hours_day:g} h a day"))
        if duty.overtime_min > r.overtime_max_h_day * 60:
            out.append(Violation("overtime_day", pid, date(day),
                                 f"{duty.overtime_min / 60:g} h overtime, above {r.overtime_max_h_day:g} h a day"))
    for (d1, a), (d2, b) in zip(duties, duties[1:]):
        end = roster.duty_span(d1, a)[1]
        start = roster.duty_span(d2, b)[0]
        rest_h = (start - end) / 60
        if rest_h < r.min_rest_between_h:
            out.append(Violation("rest_between", pid, date(d2),
                                 f"only {rest_h:g} h rest after {a.shift} of {date(d1)} "
                                 f"(minimum {r.min_rest_between_h:g} h)", "policy"))
        if (r.no_night_into_morning and d2 == d1 + 1 and roster.shifts[a.shift].night
                and roster.shifts[b.shift].morning):
            out.append(Violation("night_into_morning", pid, date(d2),
                                 f"night shift {a.shift} straight into morning shift {b.shift}"))
    # rest days and hours per 7-day week counted from the roster's first day
    worked = {d for d, _ in duties}
    hours_by_week: dict[int, float] = defaultdict(float)
    for day, duty in duties:
        s, e = roster.duty_span(day, duty)
        hours_by_week[day // 7] += (e - s) / 60
    for w in range(roster.days // 7):
        days = range(w * 7, w * 7 + 7)
        rest = sum(1 for d in days if d not in worked)
        if rest < r.min_rest_days_week:
            out.append(Violation("rest_day", pid, date(w * 7),
                                 f"{rest} rest day(s) in the week from {date(w * 7)}, "
                                 f"at least {r.min_rest_days_week} required"))
    total_h = sum(hours_by_week.values())
    if r.system == "standard":
        overtime = sum(max(0.0, h - r.hours_week) for h in hours_by_week.values())
    else:
        overtime = max(0.0, total_h - r.hours_week * roster.days / 7)
        for w, h in sorted(hours_by_week.items()):
            if h > r.max_hours_any_week:
                out.append(Violation("hours_week", pid, date(w * 7),
                                     f"{h:g} h in the week from {date(w * 7)}, above {r.max_hours_any_week:g} h"))
    cap = _overtime_cap_h(roster)
    if overtime > cap + 1e-9:
        out.append(Violation("overtime_month", pid, date(0),
                             f"{overtime:g} h overtime over {roster.days} days, above {cap:g} h "
                             f"({r.max_overtime_h_month:g} h a month)"))
    run = 0
    for d in range(roster.days):
        duty = roster.duties.get((pid, d))
        run = run + 1 if duty and roster.shifts[duty.shift].night else 0
        if run == r.max_consecutive_nights + 1:
            out.append(Violation("nights_in_a_row", pid, date(d),
                                 f"more than {r.max_consecutive_nights} night shifts in a row", "policy"))
    return out


def counts(roster: Roster, pid: str, duties: list | None = None) -> dict[str, int]:
    holidays = set(roster.rules.holidays)
    c = {"nights": 0, "weekends": 0, "holidays": 0, "shifts": 0}
    for day, duty in roster.person_duties(pid) if duties is None else duties:
        date = roster.date(day)
        c["shifts"] += 1
        c["nights"] += roster.shifts[duty.shift].night
        c["weekends"] += date.weekday() >= 5
        c["holidays"] += date in holidays
    return c


def check_fairness(roster: Roster) -> list[Violation]:
    """Nights, weekends and holidays shared out: spread at most 2 × slack in a group.

    A group is the people of one center on one pattern with no leave in the
    horizon (leave lowers counts for a good reason).
    """
    on_leave = {pid for pid, _ in roster.leave}
    groups: dict[tuple[str, str], list[str]] = defaultdict(list)
    for p in roster.people:
        if p.id not in on_leave:
            groups[(p.center, p.pattern)].append(p.id)
    out = []
    spread = 2 * roster.rules.fairness_slack
    index = _by_person(roster)
    for (center, pattern), pids in sorted(groups.items()):
        if len(pids) < 2:
            continue
        table = {pid: counts(roster, pid, index.get(pid, [])) for pid in pids}
        for what in ("nights", "weekends", "holidays"):
            values = {pid: table[pid][what] for pid in pids}
            lo, hi = min(values.values()), max(values.values())
            if hi - lo > spread:
                most = sorted(p for p, v in values.items() if v == hi)
                least = sorted(p for p, v in values.items() if v == lo)
                out.append(Violation(
                    f"fair_{what}", "", roster.date(0).isoformat(),
                    f"{center}/{pattern}: {what} range {lo}..{hi} (allowed spread {spread}); "
                    f"most: {', '.join(most[:5])}; least: {', '.join(least[:5])}", "fairness"))
    return out


def check(roster: Roster) -> list[Violation]:
    out = []
    index = _by_person(roster)
    for p in roster.people:
        out.extend(check_person(roster, p.id, index.get(p.id, [])))
    for (pid, _day), duty in roster.duties.items():
        if duty.shift not in roster.shifts:
            out.append(Violation("unknown_shift", pid, "", f"shift {duty.shift!r} is not defined"))
    out.extend(check_fairness(roster))
    return sorted(out)


def coverage_report(roster: Roster) -> dict[str, dict]:
    """Per center: intervals short, agent-hours short, worst interval."""
    report = {}
    for center in roster.centers():
        short = roster.shortfalls(center)
        gap = sum(n - h for _, n, h in short)
        needed = sum(roster.requirement.get(center) or [])
        worst = max(short, key=lambda s: s[1] - s[2], default=None)
        report[center] = {
            "intervals": roster.intervals,
            "short_intervals": len(short),
            "empty_intervals": sum(1 for _, n, h in short if h == 0),
            "short_agent_hours": round(gap * roster.interval_min / 60, 1),
            "coverage_pct": round(100.0 * (1 - len(short) / roster.intervals), 2) if roster.intervals else 100.0,
            # share of the needed agent-hours on duty: an even 21 of 30 is 70% here but 0% covered above
            "staffed_pct": round(100.0 * (1 - gap / needed), 2) if needed else 100.0,
            "worst": None if worst is None else {
                "at": roster.interval_time(worst[0]).strftime("%Y-%m-%d %H:%M"),
                "needed": worst[1], "on_duty": worst[2],
            },
        }
    return report


def skill_report(roster: Roster) -> dict[str, dict[str, dict]]:
    """Per center and wanted skill: who holds it and how much of its hours it is on duty.

    A head count can be met while every Korean speaker is off: the ACD then
    holds Korean callers until the escalation drops the skill.
    """
    report: dict[str, dict[str, dict]] = {}
    for center, per in roster.skill_requirement.items():
        for skill, need in sorted(per.items()):
            wanted = sum(1 for n in need if n > 0)
            short = roster.skill_shortfalls(center, skill)
            first = short[0][0] if short else None
            report.setdefault(center, {})[skill] = {
                "holders": sorted(p.id for p in roster.people if p.center == center and skill in p.skills),
                "wanted_intervals": wanted,
                "short_intervals": len(short),
                "coverage_pct": round(100.0 * (1 - len(short) / wanted), 2) if wanted else 100.0,
                "first_gap": None if first is None else roster.interval_time(first).strftime("%Y-%m-%d %H:%M"),
            }
    return report


def short_line(cov: dict[str, dict]) -> str:
    """The roster's coverage in one sentence: never a bare "saved" when intervals are short."""
    short = sum(r["short_intervals"] for r in cov.values())
    total = sum(r["intervals"] for r in cov.values())
    if not short:
        return "every interval covered"
    hours = sum(r["short_agent_hours"] for r in cov.values())
    empty = sum(r.get("empty_intervals", 0) for r in cov.values())
    center, rep = max(((c, r) for c, r in cov.items() if r["worst"]),
                      key=lambda cr: (cr[1]["worst"]["needed"] - cr[1]["worst"]["on_duty"]) / cr[1]["worst"]["needed"])
    w = rep["worst"]
    return (f"{short} of {total} center-intervals short by {round(hours, 1):g} agent-hours in all "
            f"({len([r for r in cov.values() if r['short_intervals']])} of {len(cov)} centers); "
            f"worst: {center} {w['at']}, {w['on_duty']} of {w['needed']} on duty; "
            f"{empty} interval(s) with nobody on duty")


def group_shortfalls(roster: Roster, center: str) -> list[dict]:
    """Consecutive short intervals merged into spans, for a readable report."""
    spans = []
    for i, need, have in roster.shortfalls(center):
        if spans and spans[-1]["_last"] == i - 1:
            s = spans[-1]
            s["_last"] = i
            s["max_short"] = max(s["max_short"], need - have)
            s["agent_hours"] += (need - have) * roster.interval_min / 60
        else:
            spans.append({"_first": i, "_last": i, "max_short": need - have,
                          "agent_hours": (need - have) * roster.interval_min / 60})
    out = []
    for s in spans:
        out.append({
            "from": roster.interval_time(s["_first"]).strftime("%Y-%m-%d %H:%M"),
            "to": roster.interval_time(s["_last"] + 1).strftime("%Y-%m-%d %H:%M"),
            "max_short": s["max_short"],
            "agent_hours": round(s["agent_hours"], 1),
        })
    return out
