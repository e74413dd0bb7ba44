"""Coverage terms of the roster model (seats.solver): what a short stretch of time costs.

A penalty on people missing alone is indifferent to *where* they are missing.
With a headcount that cannot cover 24x7 (the plan's 3 call-takers a seat give
120 of 168 seat-hours), every roster that uses everyone's hours lacks the same
total, and the solver was free to leave a weekday morning or a night with
nobody at all.  So the model also pays heavily for an interval with nobody on
duty where a shift could put someone, and for the worst interval's shortfall,
which spreads the gap over the week.  Skills (Korean in Yanbian) are paid for
per interval without a holder on duty.

Coverage is aggregated per stretch of time in which the same shifts are on
duty, so the number of terms does not grow with the interval length.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from seats.roster import Roster

W_EMPTY = 100     # per interval with nobody on duty where a shift could put someone
W_WORST = 48      # per person missing in the worst interval: one day's 30-min intervals
W_SKILL = 2       # per interval a wanted skill has nobody on duty


@dataclass
class Terms:
    short: list = field(default_factory=list)        # (var, intervals): people missing, as reported
    empty: list = field(default_factory=list)        # (var, intervals): nobody on duty
    skill_short: list = field(default_factory=list)  # (var, intervals): a skill uncovered
    worst: object = None
    hints: list = field(default_factory=list)

    def objective(self):
        return (sum(v * k for v, k in self.short) + W_EMPTY * sum(v * k for v, k in self.empty)
                + W_SKILL * sum(v * k for v, k in self.skill_short) + W_WORST * (self.worst if self.worst is not None else 0))


def _stretches(roster: Roster, slots, need: list[int]) -> dict[tuple, dict[int, int]]:
    """(on-duty slots) -> {requirement: how many intervals}, for intervals needing someone."""
    step = roster.interval_min
    covering: dict[int, list] = defaultdict(list)
    for (d, s) in slots:
        sh = roster.shifts[s]
        start = d * 1440 + sh.start_min
        first = (start + step // 2) // step
        last = min(roster.intervals, (start + sh.minutes + step // 2) // step)
        for i in range(first, last):
            covering[i].append((d, s))
    out: dict[tuple, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for i in range(roster.intervals):
        if need[i] > 0:
            out[tuple(sorted(covering.get(i, [])))][need[i]] += 1
    return out


def add_heads(m, roster: Roster, on_duty: dict, need: list[int], hinted: dict, terms: Terms) -> None:
    """People on duty against the requirement: missing, empty and worst-interval terms."""
    top = max(need, default=0)
    terms.worst = m.NewIntVar(0, top, "worst")
    worst_hint = 0
    for keys, reqs in _stretches(roster, on_duty, need).items():
        cov = sum(on_duty[k] for k in keys) if keys else 0
        have = sum(hinted.get(k, 0) for k in keys)
        if keys:
            empty = m.NewBoolVar("empty")
            m.Add(cov + empty >= 1)
            terms.empty.append((empty, sum(reqs.values())))
            terms.hints.append((empty, int(have == 0)))
        for r, mult in reqs.items():
            u = m.NewIntVar(0, r, "short")
            m.Add(u >= r - cov)
            terms.short.append((u, mult))
            terms.hints.append((u, max(0, r - have)))
            if keys:  # an interval no shift reaches is short whatever the roster: not a "worst" to spread
                m.Add(terms.worst >= u)
                worst_hint = max(worst_hint, r - have)
    terms.hints.append((terms.worst, max(0, worst_hint)))


def add_skill(m, roster: Roster, on_duty: dict, need: list[int], hinted: dict, terms: Terms) -> None:
    """At least ``need`` holders of one skill on duty, paid per interval short."""
    for keys, reqs in _stretches(roster, on_duty, need).items():
        cov = sum(on_duty[k] for k in keys) if keys else 0
        have = sum(hinted.get(k, 0) for k in keys)
        for r, mult in reqs.items():
            u = m.NewIntVar(0, r, "skill_short")
            m.Add(u >= r - cov)
            terms.skill_short.append((u, mult))
            terms.hints.append((u, max(0, r - have)))


def value(read, pairs) -> int:
    return int(sum(read(v) * k for v, k in pairs))
