"""Build rosters with OR-Tools CP-SAT.

The model has one yes/no per person, day and shift (not per 30-minute slot);
coverage is aggregated per stretch of time in which the same shifts are on
duty, so the number of coverage constraints does not grow with the interval
length.  Each center is solved on its own: people belong to a center.
Shortfall is a penalised slack, so a headcount that cannot cover still gets
the best roster there is, with the intervals that fall short reported.
"""

from __future__ import annotations

import heapq
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from ortools.sat.python import cp_model

from ivr import log
from seats.roster import Duty, Roster
from seats.shifts import transition_ok

ProgressFn = Callable[[str, float, float, float | None, float | None], None]


@dataclass
class SolveStats:
    center: str
    people: int
    status: str = ""
    objective: float | None = None
    bound: float | None = None
    wall_s: float = 0.0
    first_solution_s: float | None = None
    within_gap_s: float | None = None
    solutions: int = 0
    short_agent_intervals: int = 0
    variables: int = 0
    history: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "history"}


class _Watcher(cp_model.CpSolverSolutionCallback):
    def __init__(self, stats: SolveStats, gap: float, t0: float):
        super().__init__()
        self.stats, self.gap, self.t0 = stats, gap, t0
        self.best: float | None = None
        self.bound: float | None = None

    def on_solution_callback(self) -> None:
        now = time.perf_counter() - self.t0
        obj, bound = self.ObjectiveValue(), self.BestObjectiveBound()
        self.best, self.bound = obj, bound
        s = self.stats
        s.solutions += 1
        s.history.append((round(now, 3), obj, bound))
        if s.first_solution_s is None:
            s.first_solution_s = now
        if s.within_gap_s is None and obj - bound <= self.gap * max(1.0, abs(obj)):
            s.within_gap_s = now


def _hint_cycle(roster: Roster, codes: tuple[str, ...]) -> str:
    """A legal-looking rotation used only as a starting point for the solver."""
    shifts = [roster.shifts[c] for c in codes]
    day = sorted((s for s in shifts if not s.night), key=lambda s: s.start_min)
    night = [s for s in shifts if s.night]
    if len(day) >= 2 and night:
        a, b, n = day[0].code, day[1].code, night[0].code
        return f"{a}{a}{b}{b}-{n}{n}--"
    return (codes[0] * 5) + "--"


def greedy_hint(roster: Roster, people: list, need: list[int]) -> dict[tuple[str, int], str]:
    """A quick lawful roster, used as the solver's starting point.

    Shift slots (day, shift) are filled one person at a time, always the slot
    where one more person removes the most short intervals; the person is the
    one with the fewest hours (for nights, the fewest nights) whom the rules
    allow there.  Not optimal, but it starts CP-SAT near the answer.
    """
    rules = roster.rules
    step = roster.interval_min
    free = [p for p in people if not roster.patterns[p.pattern].cycle]
    if not free:
        return {}
    weekly_cap_min = 60 * (rules.hours_week if rules.system == "standard" else rules.max_hours_any_week)
    total_cap_min = 60 * rules.hours_week * roster.days / 7
    max_week_shifts = 7 - rules.min_rest_days_week
    slots: dict[tuple[int, str], list[int]] = {}
    for code in {c for p in free for c in roster.patterns[p.pattern].shifts}:
        sh = roster.shifts[code]
        for d in range(roster.days):
            start = d * 1440 + sh.start_min
            first = (start + step // 2) // step
            last = min(roster.intervals, (start + sh.minutes + step // 2) // step)
            if first < last:
                slots[(d, code)] = need[first:last]
    count = {key: 0 for key in slots}
    gain = lambda key: sum(1 for n in slots[key] if n > count[key])  # noqa: E731
    heap = [(-gain(k), k) for k in slots]
    heapq.heapify(heap)
    duty: dict[str, dict[int, str]] = {p.id: {} for p in free}
    minutes = {p.id: 0 for p in free}
    nights = {p.id: 0 for p in free}
    weekends = {p.id: 0 for p in free}
    week_use: dict[tuple[str, int], list] = defaultdict(lambda: [0, 0])

    def take(pid: str, d: int, code: str, sign: int) -> None:
        sh = roster.shifts[code]
        if sign > 0:
            duty[pid][d] = code
        else:
            del duty[pid][d]
        minutes[pid] += sign * sh.minutes
        nights[pid] += sign * sh.night
        weekends[pid] += sign * (roster.date(d).weekday() >= 5)
        wk = week_use[(pid, d // 7)]
        wk[0] += sign
        wk[1] += sign * sh.minutes

    def allowed(pid: str, d: int, code: str) -> bool:
        mine = duty[pid]
        if d in mine or (pid, d) in roster.leave:
            return False
        sh = roster.shifts[code]
        wk = week_use[(pid, d // 7)]
        if wk[0] >= max_week_shifts and (d // 7 + 1) * 7 <= roster.days:
            return False
        if wk[1] + sh.minutes > weekly_cap_min or minutes[pid] + sh.minutes > total_cap_min:
            return False
        for gap in (1, 2):
            before, after = mine.get(d - gap), mine.get(d + gap)
            if before and transition_ok(roster.shifts[before], sh, gap, rules):
                return False
            if after and transition_ok(sh, roster.shifts[after], gap, rules):
                return False
        if sh.night:
            run, k = 1, d - 1
            while roster.shifts.get(mine.get(k, "")) and roster.shifts[mine[k]].night:
                run, k = run + 1, k - 1
            k = d + 1
            while roster.shifts.get(mine.get(k, "")) and roster.shifts[mine[k]].night:
                run, k = run + 1, k + 1
            if run > rules.max_consecutive_nights:
                return False
        return True

    while heap:
        neg, key = heapq.heappop(heap)
        g = gain(key)
        if g == 0:
            continue
        if -neg != g:  # stale entry
            heapq.heappush(heap, (-g, key))
            continue
        d, code = key
        night = roster.shifts[code].night
        weekend = roster.date(d).weekday() >= 5
        # keep nights and weekends even first, then hours; the first one allowed wins
        def rank(p, night=night, weekend=weekend):
            return (nights[p.id] if night else 0, weekends[p.id] if weekend else 0, minutes[p.id],
                    0 if night else -nights[p.id])

        best = next((p.id for p in sorted(free, key=rank)
                     if code in roster.patterns[p.pattern].shifts and allowed(p.id, d, code)), None)
        if best is None:
            continue  # nobody can take this slot: it stays short
        take(best, d, code, +1)
        count[key] += 1
        heapq.heappush(heap, (-gain(key), key))

    # even out nights and weekends by handing a shift from the most loaded to the least
    spread = 2 * rules.fairness_slack
    tests = {
        "nights": (nights, lambda d, c: roster.shifts[c].night),
        "weekends": (weekends, lambda d, c: roster.date(d).weekday() >= 5),
    }
    for _what, (tally, test) in tests.items():
        for _round in range(4 * len(free)):
            order = sorted(free, key=lambda p: tally[p.id])
            if tally[order[-1].id] - tally[order[0].id] <= spread:
                break
            moved = False
            for hi in reversed(order):
                if tally[hi.id] - tally[order[0].id] <= spread:
                    break
                for lo in order:
                    if tally[hi.id] - tally[lo.id] <= 1:
                        break
                    for d, code in sorted(duty[hi.id].items()):
                        if not test(d, code) or code not in roster.patterns[lo.pattern].shifts:
                            continue
                        # hand the shift over, taking lo's shift of that day in exchange
                        other = duty[lo.id].get(d)
                        if other is not None and (test(d, other) or other not in roster.patterns[hi.pattern].shifts):
                            continue
                        take(hi.id, d, code, -1)
                        if other is not None:
                            take(lo.id, d, other, -1)
                        if allowed(lo.id, d, code) and (other is None or allowed(hi.id, d, other)):
                            take(lo.id, d, code, +1)
                            if other is not None:
                                take(hi.id, d, other, +1)
                            moved = True
                            break
                        if other is not None:
                            take(lo.id, d, other, +1)
                        take(hi.id, d, code, +1)
                    if moved:
                        break
                if moved:
                    break
            if not moved:
                break
    return {(pid, d): code for pid, days in duty.items() for d, code in days.items()}


def solve_center(
    roster: Roster,
    center: str,
    *,
    time_limit_s: float = 30.0,
    workers: int = 2,
    gap_ratio: float = 0.01,
    progress: ProgressFn | None = None,
    seed: int = 1,
    hint: str = "greedy",
    parameters: dict | None = None,
) -> SolveStats:
    rules = roster.rules
    people = [p for p in roster.people if p.center == center]
    stats = SolveStats(center, len(people))
    need = roster.requirement.get(center) or [0] * roster.intervals
    days = roster.days
    m = cp_model.CpModel()
    x: dict[tuple[str, int, str], object] = {}  # (pid, day, shift) -> BoolVar or linear expr
    per_slot: dict[tuple[int, str], list] = defaultdict(list)
    hints: list = []
    greedy = greedy_hint(roster, people, need) if hint == "greedy" else {}
    extra_hints: list = []

    for idx, p in enumerate(people):
        pattern = roster.patterns[p.pattern]
        codes = pattern.shifts
        if pattern.cycle:
            # fixed rotation: the solver only picks the phase
            cyc = pattern.cycle
            phase = [m.NewBoolVar(f"ph_{p.id}_{k}") for k in range(len(cyc))]
            m.AddExactlyOne(phase)
            m.AddHint(phase[idx % len(cyc)], 1)
            for d in range(days):
                if (p.id, d) in roster.leave:
                    continue
                for s in codes:
                    terms = [phase[k] for k in range(len(cyc)) if cyc[(d + k) % len(cyc)] == s]
                    if terms:
                        x[(p.id, d, s)] = sum(terms)
                        per_slot[(d, s)].extend(terms)
            continue
        cycle_hint = _hint_cycle(roster, codes)
        for d in range(days):
            if (p.id, d) in roster.leave:
                continue
            day_vars = []
            for s in codes:
                v = m.NewBoolVar(f"x_{p.id}_{d}_{s}")
                x[(p.id, d, s)] = v
                per_slot[(d, s)].append(v)
                day_vars.append(v)
                if hint == "greedy":
                    hints.append((v, 1 if greedy.get((p.id, d)) == s else 0))
                elif hint == "cycle":
                    hints.append((v, 1 if cycle_hint[(d + idx) % len(cycle_hint)] == s else 0))
            m.AddAtMostOne(day_vars)
        get = lambda d, s: x.get((p.id, d, s))  # noqa: E731
        # rest between shifts, night straight into morning
        for d in range(days):
            for gap in (1, 2):
                if d + gap >= days:
                    continue
                for a in codes:
                    for b in codes:
                        va, vb = get(d, a), get(d + gap, b)
                        if va is None or vb is None:
                            continue
                        if transition_ok(roster.shifts[a], roster.shifts[b], gap, rules):
                            m.AddBoolOr([va.Not(), vb.Not()])
        minutes = lambda d: [roster.shifts[s].minutes * get(d, s) for s in codes if get(d, s) is not None]  # noqa: E731
        for w in range((days + 6) // 7):
            week = range(w * 7, min(days, w * 7 + 7))
            week_vars = [get(d, s) for d in week for s in codes if get(d, s) is not None]
            if len(week) == 7 and rules.min_rest_days_week:
                m.Add(sum(week_vars) <= 7 - rules.min_rest_days_week)
            week_min = sum(t for d in week for t in minutes(d))
            cap = rules.hours_week if rules.system == "standard" else rules.max_hours_any_week
            m.Add(week_min <= int(cap * 60 * len(week) / 7 if len(week) < 7 else cap * 60))
        if rules.system == "comprehensive":
            m.Add(sum(t for d in range(days) for t in minutes(d)) <= int(rules.hours_week * 60 * days / 7))
        nights = [s for s in codes if roster.shifts[s].night]
        k = rules.max_consecutive_nights
        for d in range(days - k):
            window = [get(dd, s) for dd in range(d, d + k + 1) for s in nights if get(dd, s) is not None]
            if len(window) > k:
                m.Add(sum(window) <= k)

    # fairness: nights, weekends, holidays within a spread per (center, pattern) group
    on_leave = {pid for pid, _ in roster.leave}
    groups: dict[str, list] = defaultdict(list)
    for p in people:
        if p.id not in on_leave:
            groups[p.pattern].append(p)
    spread = 2 * rules.fairness_slack
    holidays = set(rules.holidays)
    for pattern_id, members in groups.items():
        if len(members) < 2 or roster.patterns[pattern_id].cycle:
            continue
        codes = roster.patterns[pattern_id].shifts
        tests = {
            "nights": lambda d, s: roster.shifts[s].night,
            "weekends": lambda d, s: roster.date(d).weekday() >= 5,
            "holidays": lambda d, s: roster.date(d) in holidays,
        }
        for what, test in tests.items():
            cells = [(d, s) for d in range(days) for s in codes if test(d, s)]
            if not cells:
                continue
            lo = m.NewIntVar(0, days, f"lo_{what}_{pattern_id}")
            hi = m.NewIntVar(0, days, f"hi_{what}_{pattern_id}")
            m.Add(hi - lo <= spread)
            tallies = []
            for p in members:
                cnt = sum(x[(p.id, d, s)] for d, s in cells if (p.id, d, s) in x)
                m.Add(cnt >= lo)
                m.Add(cnt <= hi)
                tallies.append(sum(1 for d, s in cells if greedy.get((p.id, d)) == s))
            if greedy:
                extra_hints += [(lo, min(tallies)), (hi, max(tallies))]

    # coverage, aggregated per stretch of identical on-duty shifts
    step = roster.interval_min
    covering: dict[int, list[tuple[int, str]]] = defaultdict(list)
    for (d, s) in per_slot:
        sh = roster.shifts[s]
        start = d * 1440 + sh.start_min
        first = (start + step // 2) // step
        last = min(roster.intervals, (start + sh.minutes + step // 2) // step)
        for i in range(first, last):
            covering[i].append((d, s))
    on_duty = {key: m.NewIntVar(0, len(vs), f"n_{key[0]}_{key[1]}") for key, vs in per_slot.items()}
    for key, vs in per_slot.items():
        m.Add(on_duty[key] == sum(vs))
    hinted = defaultdict(int)
    for (_pid, d), s in greedy.items():
        hinted[(d, s)] += 1
    if greedy:
        extra_hints += [(on_duty[key], hinted[key]) for key in per_slot]
    segments: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for i in range(roster.intervals):
        segments[tuple(sorted(covering.get(i, [])))][need[i]] += 1
    penalty = []
    for keys, reqs in segments.items():
        cov = sum(on_duty[k] for k in keys) if keys else 0
        for r, mult in reqs.items():
            if r <= 0:
                continue
            u = m.NewIntVar(0, r, "short")
            m.Add(u >= r - cov)
            penalty.append(mult * u)
            if greedy:
                extra_hints.append((u, max(0, r - sum(hinted[k] for k in keys))))
    m.Minimize(sum(penalty) if penalty else 0)
    for v, h in hints + extra_hints:
        m.AddHint(v, h)
    stats.variables = len(m.Proto().variables)

    solver = cp_model.CpSolver()
    solver.parameters.max_time_in_seconds = float(time_limit_s)
    solver.parameters.num_workers = max(1, int(workers))
    solver.parameters.relative_gap_limit = float(gap_ratio)
    solver.parameters.random_seed = seed
    for name, value in (parameters or {}).items():
        setattr(solver.parameters, name, value)
    t0 = time.perf_counter()
    watcher = _Watcher(stats, gap_ratio, t0)
    result: dict = {}

    def run() -> None:
        result["status"] = solver.Solve(m, watcher)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        if progress:
            progress(center, time.perf_counter() - t0, time_limit_s, watcher.best, watcher.bound)
    stats.wall_s = time.perf_counter() - t0
    status = result.get("status")
    stats.status = solver.StatusName(status)
    log.get(__name__).info("roster_solved", center=center, status=stats.status, wall_s=round(stats.wall_s, 2))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        return stats
    stats.objective = solver.ObjectiveValue()
    stats.bound = solver.BestObjectiveBound()
    if stats.within_gap_s is None and stats.objective - stats.bound <= gap_ratio * max(1.0, abs(stats.objective)):
        stats.within_gap_s = stats.wall_s
    stats.short_agent_intervals = int(round(stats.objective))
    member_ids = {p.id for p in people}
    for key in [k for k in roster.duties if k[0] in member_ids]:
        del roster.duties[key]
    for (pid, d, s), v in x.items():
        if solver.Value(v):
            roster.duties[(pid, d)] = Duty(s)
    return stats
