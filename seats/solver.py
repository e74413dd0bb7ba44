"""Build rosters with OR-Tools CP-SAT.

The model has one yes/no per person, day and shift (not per 30-minute slot);
coverage is aggregated per stretch of time in which the same shifts are on
duty, so the number of coverage constraints does not grow with the interval
length.  Each center is solved on its own: people belong to a center.
Shortfall is a penalised slack, so a headcount that cannot cover still gets
the best roster there is, with the intervals that fall short reported; how
the shortfall is spread (no empty interval, the worst one as small as can be,
skills covered) is seats.cover's business.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from ortools.sat.python import cp_model

from hotline import log
from seats import cover
from seats.greedy import _hint_cycle, greedy_hint
from seats.roster import Duty, Roster
from seats.shifts import transition_ok

# (center, elapsed s, limit s, people missing summed over intervals, people missing in the worst interval)
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
    short_agent_intervals: int = 0   # people missing summed over intervals (= objective)
    empty_intervals: int = 0         # intervals with nobody where a shift could put someone
    worst_short: int = 0             # people missing in the worst interval a shift reaches
    skill_short_intervals: int = 0   # intervals a wanted skill has nobody, summed over skills
    penalty: float | None = None     # the weighted objective (seats.cover) and its bound
    penalty_bound: float | None = None
    fallback: str = ""               # set when the roster is not the solver's
    variables: int = 0
    history: list = field(default_factory=list)

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "history"}


class _Watcher(cp_model.CpSolverSolutionCallback):
    """Follows the solve; ``best`` is people missing (what supervisors read), not the weighted penalty."""

    def __init__(self, stats: SolveStats, gap: float, t0: float, terms: "cover.Terms"):
        super().__init__()
        self.stats, self.gap, self.t0, self.terms = stats, gap, t0, terms
        self.best: float | None = None
        self.worst: int | None = None

    def on_solution_callback(self) -> None:
        now = time.perf_counter() - self.t0
        obj, bound = self.ObjectiveValue(), self.BestObjectiveBound()
        self.best = cover.value(self.Value, self.terms.short)
        self.worst = self.Value(self.terms.worst)
        s = self.stats
        s.solutions += 1
        s.history.append((round(now, 3), obj, bound))
        if s.first_solution_s is None:
            s.first_solution_s = now
        if s.within_gap_s is None and obj - bound <= self.gap * max(1.0, abs(obj)):
            s.within_gap_s = now


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

    # coverage: heads per stretch of identical on-duty shifts, then each wanted skill (seats.cover)
    on_duty = {key: m.NewIntVar(0, len(vs), f"n_{key[0]}_{key[1]}") for key, vs in per_slot.items()}
    for key, vs in per_slot.items():
        m.Add(on_duty[key] == sum(vs))
    hinted = defaultdict(int)
    for (_pid, d), s in greedy.items():
        hinted[(d, s)] += 1
    if greedy:
        extra_hints += [(on_duty[key], hinted[key]) for key in per_slot]
    terms = cover.Terms()
    cover.add_heads(m, roster, on_duty, need, hinted, terms)
    for skill, skill_need in sorted(roster.skill_requirement.get(center, {}).items()):
        holders = {p.id for p in people if skill in p.skills}
        slots = {key: sum(x[(pid, key[0], key[1])] for pid in holders if (pid, key[0], key[1]) in x)
                 for key in per_slot}
        held = defaultdict(int)
        for (pid, d), s in greedy.items():
            held[(d, s)] += pid in holders
        cover.add_skill(m, roster, {k: v for k, v in slots.items() if holders}, skill_need, held, terms)
    m.Minimize(terms.objective())
    if greedy:
        extra_hints += terms.hints
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
    watcher = _Watcher(stats, gap_ratio, t0, terms)
    result: dict = {}

    def run() -> None:
        result["status"] = solver.Solve(m, watcher)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    while thread.is_alive():
        thread.join(0.2)
        if progress:
            progress(center, time.perf_counter() - t0, time_limit_s, watcher.best, watcher.worst)
    stats.wall_s = time.perf_counter() - t0
    status = result.get("status")
    stats.status = solver.StatusName(status)
    log.get(__name__).info("roster_solved", center=center, status=stats.status, wall_s=round(stats.wall_s, 2))
    if status not in (cp_model.OPTIMAL, cp_model.FEASIBLE):
        if greedy and all(not roster.patterns[p.pattern].cycle for p in people):
            _use_greedy(roster, center, people, greedy, stats)
        return stats
    stats.penalty, stats.penalty_bound = solver.ObjectiveValue(), solver.BestObjectiveBound()
    if stats.within_gap_s is None and stats.penalty - stats.penalty_bound <= gap_ratio * max(1.0, abs(stats.penalty)):
        stats.within_gap_s = stats.wall_s
    stats.skill_short_intervals = cover.value(solver.Value, terms.skill_short)
    member_ids = {p.id for p in people}
    for key in [k for k in roster.duties if k[0] in member_ids]:
        del roster.duties[key]
    for (pid, d, s), v in x.items():
        if solver.Value(v):
            roster.duties[(pid, d)] = Duty(s)
    _measure(roster, center, stats)
    stats.bound = stats.objective if status == cp_model.OPTIMAL else None
    return stats


def _measure(roster: Roster, center: str, stats: SolveStats) -> None:
    """Shortfall figures read from the saved duties, as the checker and the coverage table read them
    (the model's own terms can differ from them in a solution that is not optimal)."""
    short = roster.shortfalls(center)
    stats.objective = stats.short_agent_intervals = sum(n - h for _, n, h in short)
    stats.empty_intervals = sum(1 for _, _n, h in short if h == 0)
    stats.worst_short = max((n - h for _, n, h in short), default=0)


def _use_greedy(roster: Roster, center: str, people: list, greedy: dict, stats: SolveStats) -> None:
    """No solution within the time limit: the lawful starting roster beats an empty one.

    A large center given a second or two can end there; the checker still
    reads the result like any other roster.
    """
    member_ids = {p.id for p in people}
    for key in [k for k in roster.duties if k[0] in member_ids]:
        del roster.duties[key]
    for (pid, d), s in greedy.items():
        roster.duties[(pid, d)] = Duty(s)
    stats.fallback = "greedy start (the solver found nothing in its time)"
    _measure(roster, center, stats)
