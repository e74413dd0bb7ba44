"""Quick lawful starting points for the CP-SAT roster model (seats.solver).

Kept apart from the model so either can be read on its own: the hint only has
to be lawful and near the answer, the model decides.
"""

from __future__ import annotations

import heapq
from collections import defaultdict

from seats.roster import Roster
from seats.shifts import transition_ok


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
    furthest below its requirement (then the one where one more person removes
    the most short intervals); the person is the
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
    # the slot furthest below its requirement first, so a headcount that cannot cover
    # spreads its gap over every slot instead of filling the first days and leaving the last empty
    deficit = lambda key: max(slots[key]) - count[key]  # noqa: E731
    prio = lambda key: (-deficit(key), -gain(key))  # noqa: E731
    heap = [(*prio(k), k) for k in slots]
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
        *old, key = heapq.heappop(heap)
        if gain(key) == 0:
            continue
        if tuple(old) != prio(key):  # stale entry
            heapq.heappush(heap, (*prio(key), key))
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
        heapq.heappush(heap, (*prio(key), key))

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
