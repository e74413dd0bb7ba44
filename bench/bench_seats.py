"""Benchmark for seats/: a 4-week roster for all of Jilin, and Erlang speed.

Prints figures; asserts nothing about speed (tests never time anything).

    /work/.venv/bin/python bench/bench_seats.py [--time-limit 300] [--rounding nearest]
        [--require load|rule] [--calls-per-million-day 1400] [--workers 2] [--out DIR]

Roster: every center of centers.yaml with call-takers by the rule (nearest
rounding gives the plan's 1,083), 28 days of 30-minute intervals, three 8-hour
shifts, CP-SAT per center with the time limit shared out by headcount.
Requirement: a synthetic forecast (seats/forecast.py HOURLY_PROFILE) split by
population, sized with Erlang C for 90 % in 15 s, 30 % shrinkage.  Then the
labour rules are checked, a supervisor's change is applied and the roster is
exported (CSV and one .ics per person).
"""

from __future__ import annotations

import argparse
import datetime as dt
import pathlib
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from seats import build, changes, checks, export, roster as rmod  # noqa: E402
from seats.config import load_centers, load_seats_config  # noqa: E402
from seats.erlang import agents_needed, evaluate_a, evaluate_c  # noqa: E402
from seats.forecast import synthetic  # noqa: E402
from seats.sizing import size_province  # noqa: E402
from seats.solver import solve_center  # noqa: E402
from seats.staffing import ServiceTarget  # noqa: E402


def bench_erlang() -> None:
    print("== Erlang evaluations per second (pure Python, one core)")
    cases = [("C", 14, 100, None), ("C", 520, 3800, None), ("A", 14, 100, 120.0), ("A", 520, 3800, 120.0)]
    for model, n, calls, patience in cases:
        fn = (lambda: evaluate_c(n, calls, 1800, 240, 15)) if patience is None else \
             (lambda: evaluate_a(n, calls, 1800, 240, 15, patience))
        count, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < 1.0:
            fn()
            count += 1
        rate = count / (time.perf_counter() - t0)
        print(f"  Erlang {model}: {n:4d} agents, load {calls * 240 / 1800:6.1f} E: {rate:10,.0f} evaluations/s")
    for patience in (None, 120.0):
        t0 = time.perf_counter()
        k = 0
        for calls in range(50, 5001, 50):
            agents_needed(calls, 1800, 240, 0.9, 15, patience_s=patience, max_occupancy=0.9)
            k += 1
        dt_s = time.perf_counter() - t0
        print(f"  agents_needed ({'A' if patience else 'C'}), loads 6.7..667 E: {k / dt_s:,.0f} intervals sized/s")


def bench_roster(args) -> None:
    cfg = load_seats_config()
    cfg.rounding = args.rounding
    sizes = [s for s in size_province(load_centers(), cfg)["centers"] if s.operators > 0]
    people = build.people_from_sizes(sizes, "three_shift")
    start = dt.date(2026, 1, 5)
    roster = build.new_roster(people, start, 28, 30, cfg)
    if args.require == "rule":
        roster.requirement = build.requirement_rule(sizes, roster.intervals)
        roster.requirement_source = "rule"
    else:
        pop = sum(s.population for s in sizes)
        f = synthetic(dt.datetime(2026, 1, 5), 7, args.calls_per_million_day * pop / 1e6, 30)
        t0 = time.perf_counter()
        roster.requirement = build.requirement_load(f, ServiceTarget.from_config(cfg), build.population_shares(sizes),
                                                    roster.intervals, 30)
        roster.requirement_source = "load"
        print(f"  requirement sized with Erlang C for {len(sizes)} centers x 336 intervals "
              f"in {time.perf_counter() - t0:.2f} s")
    print(f"== Roster: {len(people)} call-takers in {len(sizes)} centers, 28 days, 30-min intervals, "
          f"requirement = {roster.requirement_source}, time limit {args.time_limit:g} s, {args.workers} workers")
    print(f"  {'center':<13}{'people':>7}{'vars':>8}{'status':>10}{'first':>8}{'1% gap':>8}{'wall':>8}"
          f"{'short':>8}{'bound':>8}{'covered':>9}")
    total_first = total_gap = total_wall = 0.0
    gap_all = True
    budget, people_left = args.time_limit, len(people)
    for s in sizes:
        n = s.operators
        # time left over by a center that finished early goes to the ones after it
        share = max(3.0, budget * n / people_left)
        st = solve_center(roster, s.center, time_limit_s=share, workers=args.workers)
        budget, people_left = max(0.0, budget - st.wall_s), people_left - n
        short = roster.shortfalls(s.center)
        covered = 100 * (1 - len(short) / roster.intervals)
        total_first += st.first_solution_s or share
        total_wall += st.wall_s
        if st.within_gap_s is None:
            gap_all = False
        else:
            total_gap += st.within_gap_s
        fmt = lambda v: "-" if v is None else f"{v:.1f}s"  # noqa: E731
        print(f"  {s.center:<13}{n:>7}{st.variables:>8}{st.status:>10}{fmt(st.first_solution_s):>8}"
              f"{fmt(st.within_gap_s):>8}{st.wall_s:>7.1f}s{st.objective or 0:>8.0f}{st.bound or 0:>8.0f}"
              f"{covered:>8.1f}%")
    need_total = sum(sum(v) for v in roster.requirement.values())
    short_total = sum(n - h for c in roster.centers() for _, n, h in roster.shortfalls(c))
    print(f"  sum over centers: first feasible {total_first:.1f} s, within 1% of bound "
          f"{'%.1f s' % total_gap if gap_all else 'not reached everywhere'}, wall {total_wall:.1f} s")
    print(f"  coverage: {100 * (1 - short_total / need_total):.2f}% of required agent-intervals on duty "
          f"({short_total} agent-intervals short of {need_total})")
    t0 = time.perf_counter()
    violations = checks.check(roster)
    law = [v for v in violations if v.kind == "law"]
    print(f"== Check: {len(violations)} violations ({len(law)} of law) in {time.perf_counter() - t0:.2f} s")
    pid, day = min(roster.duties)
    t0 = time.perf_counter()
    after = changes.apply(roster, {"kind": "leave", "person": pid, "from": roster.date(day).isoformat(),
                                   "to": roster.date(day + 2).isoformat(), "leave": "sick"})
    imp = changes.impact(roster, after)
    changes.record(after, {"kind": "leave", "person": pid}, imp, "bench", "sick leave", forced=imp.breaks)
    print(f"== Change: sick leave for {pid} from {roster.date(day)} for 3 days re-checked in "
          f"{time.perf_counter() - t0:.2f} s: {len(imp.new_violations)} new violations, "
          f"{len(imp.coverage)} coverage spans worse")
    out = pathlib.Path(args.out or tempfile.mkdtemp(prefix="seats-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rmod.save(after, out / "roster.json")
    n_rows = export.write_csv(after, out / "roster.csv")
    n_ics = export.write_ics(after, out / "ics")
    print(f"== Export: {n_rows} duties to CSV, {n_ics} calendars in {time.perf_counter() - t0:.2f} s -> {out}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--time-limit", type=float, default=300.0, help="solver seconds for the whole province")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--rounding", choices=["ceil", "nearest", "floor"], default="nearest")
    ap.add_argument("--require", choices=["load", "rule"], default="load")
    ap.add_argument("--calls-per-million-day", type=float, default=1400.0)
    ap.add_argument("--skip-roster", action="store_true")
    ap.add_argument("--out")
    args = ap.parse_args()
    from hotline import log

    log.setup("warning")
    bench_erlang()
    if not args.skip_roster:
        bench_roster(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
