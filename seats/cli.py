"""The ``seats`` command: sizing, Erlang staffing, rule-vs-load, rosters, adherence.

A user's mistake (bad flag value, broken file, impossible load) ends in one
line on stderr naming the place and exit status 2; a supervisor change that
would break a rule is refused with exit status 1 unless forced.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import pathlib
import sys

from hotline import cli, paths
from seats.errors import SeatsError


# ---------------------------------------------------------------- helpers
def _finite(obj):
    """Infinity and NaN are not JSON: they become null (the caller adds a field saying why)."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_finite(v) for v in obj]
    return obj


def _out_json(obj) -> None:
    json.dump(_finite(obj), sys.stdout, ensure_ascii=False, indent=2, default=str, allow_nan=False)
    sys.stdout.write("\n")


def _console():
    from rich.console import Console

    return Console()


def _esc(text) -> str:
    from rich.markup import escape

    return escape(str(text))


def _pct(share: float) -> str:
    """A share as a percentage with the digits it has (0.855 is 85.5%, not 86%)."""
    return f"{round(share * 100, 4):g}%"


def _share(text: str) -> float:
    """The one rule for shares: '90%' is a percentage; a plain number up to 1 is a fraction (0.9),
    above 1 a percentage (90).  So 1.5 is 1.5 %, never 150 % nor 15 %."""
    raw = text.strip()
    try:
        v = float(raw[:-1] if raw.endswith("%") else raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not math.isfinite(v) or v < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a share: give a fraction (0.9) or a percentage (90)")
    if raw.endswith("%") or v > 1:
        if v > 100:
            raise argparse.ArgumentTypeError(f"{text!r} is over 100%")
        v /= 100
    return v


def _target_sl(text: str) -> float:
    """A service-level target is a real goal: 10 % to below 100 % (a typo like 1.5 for 0.15 is refused)."""
    v = _share(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(
            f"{text!r} is 100%, which no headcount reaches (some caller always finds every agent busy); "
            f"give a target below 100%, e.g. 0.9 or 90")
    if v < 0.10:
        raise argparse.ArgumentTypeError(
            f"{text!r} means {_pct(v)}, not a service-level target; give 0.9 or 90 for 90% "
            f"(a target is 10% to below 100%)")
    return v


def _shrinkage(text: str) -> float:
    v = _share(text)
    if v >= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: a shrinkage of 100% leaves nobody on the phones")
    return v


def _occupancy(text: str) -> float:
    v = _share(text)
    if v == 0:
        raise argparse.ArgumentTypeError(f"{text!r}: an occupancy cap of 0% lets nobody take a call")
    return v


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a YYYY-MM-DD date: {text!r}") from None


def _datetime(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO date-time: {text!r}") from None
    if value.tzinfo is not None:
        value = value.astimezone(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    return value


def _number(text: str, kind) -> float:
    """float('nan') and float('inf') parse; neither is a count, a time or a rate."""
    try:
        v = kind(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return v


def _positive(kind):
    def conv(text: str):
        v = _number(text, kind)
        if v <= 0:
            raise argparse.ArgumentTypeError(f"must be > 0: {text!r}")
        return v

    return conv


def _nonneg(text: str) -> float:
    v = _number(text, float)
    if v < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0: {text!r}")
    return v


def _cfg(args):
    from seats.config import load_seats_config

    return load_seats_config(pathlib.Path(args.config))


def _sizes(args, cfg, only: list[str] | None = None):
    from seats.config import load_centers
    from seats.sizing import size_province

    centers = load_centers(pathlib.Path(args.centers))
    sizes = size_province(centers, cfg)["centers"]
    if only:
        known = {s.center for s in sizes}
        for c in only:
            if c not in known:
                raise SeatsError(f"--center {c!r} is not in {args.centers} (known: {', '.join(sorted(known))})")
        sizes = [s for s in sizes if s.center in only]
    return sizes


# ---------------------------------------------------------------- size
def _size_row(r) -> dict:
    """One center in `seats size --json`: the figure and how it was reached (basis, reason)."""
    return {"id": r.center, "name": r.name, "population": r.population,
            "exact_seats": round(r.exact_seats, 4), "seats": r.seats, "operators": r.operators,
            **({"fixed": True} if r.fixed else {}), "basis": r.basis, "reason": r.reason,
            **({"load": {k: v for k, v in r.load.items() if k != "reason"}} if r.load else {})}


def cmd_size(args) -> int:
    from seats.config import load_centers
    from seats.sizing import size_province

    cfg = _cfg(args)
    if args.rounding:
        cfg.rounding = args.rounding
    if args.rate is not None:
        cfg.seats_per_million = args.rate
    if args.per_seat is not None:
        cfg.operators_per_seat = args.per_seat
    result = size_province(load_centers(pathlib.Path(args.centers)), cfg)
    tot = result["total"]
    if args.json:
        _out_json({
            "rule": result["rule"],
            "centers": [_size_row(r) for r in result["centers"]],
            "total": {**tot, "exact_seats": round(tot["exact_seats"], 4),
                      "by_rule": {**tot["by_rule"], "exact_seats": round(tot["by_rule"]["exact_seats"], 4)}},
        })
        return 0
    from rich.table import Table

    rule = result["rule"]
    t = Table(title=f"Seats: {rule['seats_per_million']:g} per million by the rule, "
                    f"{rule['operators_per_seat']} call-takers a seat, rounding {rule['rounding']}")
    for col in ("center", "name", "population", "exact seats", "seats", "call-takers", "how"):
        t.add_column(col, justify="left" if col in ("center", "name", "how") else "right")
    for r in result["centers"]:
        t.add_row(r.center, r.name, f"{r.population:,}", f"{r.exact_seats:.2f}", str(r.seats),
                  str(r.operators), _esc(r.reason))
    t.add_section()
    t.add_row("total", "province", f"{tot['population']:,}", f"{tot['exact_seats']:.2f}", str(tot["seats"]),
              str(tot["operators"]), "sum of the rounded centers")
    c = _console()
    c.print(t)
    plan = tot["by_rule"]
    c.print(f"Total is the sum of the rounded centers; rounding the province once gives "
            f"{tot['seats_if_rounded_once']} seats. The {plan['centers']} centers sized by inhabitants alone "
            f"(the plan's rule) take {plan['seats']} seats, {plan['operators']} call-takers.")
    for r in result["centers"]:
        if r.load.get("note"):
            c.print(f"{r.center}: {_esc(r.load['note'])} (rule.by_load in {cfg.path.name})")
    return 0


# ---------------------------------------------------------------- erlang
def cmd_erlang(args) -> int:
    from seats.erlang import agents_needed, evaluate, scheduled

    cfg = _cfg(args)
    target = args.target_sl if args.target_sl is not None else cfg.target_sl
    within = args.within_s if args.within_s is not None else cfg.within_s
    shrink = args.shrinkage if args.shrinkage is not None else cfg.shrinkage
    occ = args.max_occupancy if args.max_occupancy is not None else cfg.max_occupancy
    patience = args.patience_s if args.patience_s is not None else None
    interval_s = args.interval_min * 60
    if args.agents is not None:
        r = evaluate(args.agents, args.calls, interval_s, args.aht_s, within, patience)
    else:
        r = agents_needed(args.calls, interval_s, args.aht_s, target, within, patience_s=patience,
                          max_occupancy=occ, max_agents=cfg.max_agents)
    out = r.as_dict()
    out["rostered"] = scheduled(r.agents, shrink)
    out["inputs"] = {"calls": args.calls, "interval_min": args.interval_min, "aht_s": args.aht_s,
                     "target_sl": target, "within_s": within, "patience_s": patience,
                     "shrinkage": shrink, "max_occupancy": occ}
    if args.json:
        _out_json(out)
        return 0
    c = _console()
    c.print(f"[bold]{r.model.replace('_', ' ').title()}[/]: {args.calls:g} calls in {args.interval_min:g} min, "
            f"AHT {args.aht_s:g} s -> load {r.load_erlangs:.2f} erlangs")
    c.print(f"  agents on the phones  {r.agents}")
    c.print(f"  call-takers rostered  {out['rostered']}  (shrinkage {_pct(shrink)})")
    c.print(f"  service level         {r.service_level:.2%} answered within {within:g} s (target {_pct(target)})")
    c.print(f"  waiting probability   {r.waiting_probability:.2%}")
    if r.abandon_probability is not None:
        c.print(f"  abandon probability   {r.abandon_probability:.2%} (patience {patience:g} s)")
    if r.stable:
        c.print(f"  mean wait             {r.mean_wait_s:.1f} s")
    else:
        c.print("  mean wait             no end: the queue never clears")
    c.print(f"  occupancy             {r.occupancy:.1%} (cap {_pct(occ)})")
    if not r.stable:
        c.print(f"[bold red]warning[/]: {r.agents} agents for a load of {r.load_erlangs:.2f} erlangs take calls "
                f"more slowly than they come, so the queue grows without end and every caller waits; "
                f"at least {math.floor(r.load_erlangs) + 1} agents are needed for the queue to clear")
    return 0


# ---------------------------------------------------------------- need / compare
def _target(args, cfg):
    from seats.staffing import ServiceTarget

    return ServiceTarget.from_config(
        cfg, target_sl=args.target_sl, within_s=args.within_s, aht_s=args.aht_s,
        patience_s=args.patience_s, shrinkage=args.shrinkage, max_occupancy=args.max_occupancy,
    )


def cmd_need(args) -> int:
    from seats.forecast import read_forecast
    from seats.staffing import needs

    cfg = _cfg(args)
    f = read_forecast(args.forecast)
    rows = needs(f, _target(args, cfg))
    data = [{"start": f.time(n.index).isoformat(timespec="minutes"), "calls": n.calls,
             "agents": n.result.agents, "rostered": n.rostered,
             "service_level": round(n.result.service_level, 4),
             "occupancy": round(n.result.occupancy, 4)} for n in rows]
    if args.json:
        _out_json(data)
        return 0
    from rich.table import Table

    t = Table(title=f"Agents needed per {f.interval_min}-min interval ({f.source})")
    for col in ("start", "calls", "agents", "rostered", "SL", "occupancy"):
        t.add_column(col, justify="right")
    for d in data:
        t.add_row(d["start"].replace("T", " "), f"{d['calls']:g}", str(d["agents"]), str(d["rostered"]),
                  f"{d['service_level']:.1%}", f"{d['occupancy']:.1%}")
    _console().print(t)
    return 0


def cmd_compare(args) -> int:
    from seats import compare as cmp
    from seats.forecast import Forecast, read_forecast
    from seats.shifts import load_labour

    cfg = _cfg(args)
    size = _sizes(args, cfg, [args.center])[0]
    if size.seats == 0:
        raise _no_seats(args, size, "no staffing by the rule to set against the load")
    f = read_forecast(args.forecast)
    if args.share != 1.0:
        f = Forecast(f.start, f.interval_min, tuple(c * args.share for c in f.calls), f.aht_s, f.source, f.lines)
    labour = load_labour(cfg.path, cfg.raw)
    rows = cmp.compare(f, _target(args, cfg), size.seats, size.operators, labour.hours_week)
    summ = cmp.summary(rows, f.interval_min)
    if args.chart:
        cmp.chart(rows, pathlib.Path(args.chart),
                  f"{size.center}: rule {size.seats} seats / {size.operators} call-takers against the load "
                  f"({f.source.rsplit('/', 1)[-1]})")
    if args.json:
        _out_json({"center": size.center, "seats": size.seats, "operators": size.operators, "summary": summ,
                   "chart": args.chart, "intervals": [vars(r) for r in rows]})
        return 0
    from rich.table import Table

    t = Table(title=f"{size.name}: the rule ({size.seats} seats) against the load ({f.source})")
    for col in ("start", "calls", "needed", "rule seats", "rule SL", "sustainable", "sust. SL", "verdict"):
        t.add_column(col, justify="right")
    colours = {"short": "red", "idle": "dim", "ok": "green"}
    for r in rows:
        t.add_row(r.start, f"{r.calls:g}", str(r.need), str(r.rule_seats), f"{r.rule_sl:.0%}",
                  f"{r.sustainable:g}", f"{r.sustainable_sl:.0%}", f"[{colours[r.verdict]}]{r.verdict}[/]")
    c = _console()
    c.print(t)
    c.print(f"rule short of the load in {summ['short_intervals']} of {summ['intervals']} intervals "
            f"({summ['short_agent_hours']} agent-hours); idle seats in {summ['idle_intervals']} "
            f"({summ['idle_seat_hours']} seat-hours); 3 call-takers a seat sustain {rows[0].sustainable:g} "
            f"on the phones, short in {summ['sustainable_short_intervals']} intervals")
    if args.chart:
        c.print(f"chart written to {args.chart}")
    return 0


# ---------------------------------------------------------------- roster
def _progress(enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    progress = Progress(
        TextColumn("[bold]{task.fields[center]:<12}"), BarColumn(), TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"), disable=not enabled, transient=False,
        console=__import__("rich.console", fromlist=["Console"]).Console(stderr=True),
    )
    return progress


def _check_out(out: str) -> None:
    """A solve takes minutes: a roster that cannot be saved is refused before it starts."""
    import os

    path = pathlib.Path(out)
    folder = path.parent
    if path.is_dir():
        raise SeatsError(f"--out {out}: is a folder; give a file name, e.g. {path / 'roster.json'}")
    if not folder.is_dir():
        raise SeatsError(f"--out {out}: folder {folder} does not exist (create it first)")
    if not os.access(folder, os.W_OK | os.X_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise SeatsError(f"--out {out}: no permission to write there")


def _roster_sizes(args, cfg):
    """The centers to roster; one the rule gives no seats is named with the reason, not skipped."""
    sizes = _sizes(args, cfg, args.center)
    empty = [s for s in sizes if s.operators == 0]
    if args.center and empty:
        raise _no_seats(args, empty[0], "nobody to roster and no coverage to meet")
    sizes = [s for s in sizes if s.operators > 0]
    if not sizes:
        raise SeatsError(f"no center in {args.centers} gets seats by the rule: nobody to roster")
    return sizes


def _no_seats(args, size, consequence: str) -> SeatsError:
    """The province center has population 0 in centers.yaml: say that, not "give --center"."""
    why = (f"fixed at 0 under rule.fixed_seats in {args.config}" if size.fixed else
           f"its load gives 0 agents (rule.by_load in {args.config})" if size.basis == "load" else
           f"its population in {args.centers} is 0" if size.population == 0 else
           f"{size.exact_seats:.2f} seats by the rule round to 0")
    return SeatsError(f"--center {size.center}: the rule gives it no seats ({why}), so there is {consequence}; "
                      f"give it seats under rule.fixed_seats in {args.config}")


def _hours(person_intervals: float, roster) -> str:
    return f"{round(person_intervals * roster.interval_min / 60, 1):g} agent-hours"


def _short_hours(person_intervals: float, roster) -> str:
    """The solver counts people missing per interval; the coverage table says agent-hours: so does this."""
    return "none short" if person_intervals == 0 else f"short {_hours(person_intervals, roster)}"


def _roster_people(args, cfg, sizes, pattern):
    """People from --people, else the centers' ACD agents and new people up to the rule (seats.staff)."""
    from seats import build, staff
    from seats.shifts import load_patterns, load_shifts

    patterns = load_patterns(cfg.path, cfg.raw, load_shifts(cfg.path, cfg.raw))
    agents = staff.load_agents()
    if args.people:
        people = build.read_people(args.people, patterns)
        wanted = {s.center for s in sizes}
        return ([p for p in people if p.center in wanted] if args.center else people), agents
    return build.people_from_sizes(sizes, pattern, agents, patterns), agents


def _roster_requirement(args, cfg, roster, sizes) -> None:
    from seats import build
    from seats.forecast import read_forecast

    require = args.require or ("load" if args.forecast else "rule")
    if require == "load":
        if not args.forecast:
            raise SeatsError("--require load needs --forecast FILE")
        f = read_forecast(args.forecast)
        pop = args.forecast_population or sum(s.population for s in sizes)
        if pop <= 0:
            raise SeatsError("--forecast-population: give the number of people the forecast stands for "
                             "(the chosen centers have no population of their own)")
        shares = {s.center: _forecast_share(s, pop) for s in sizes if s.population > 0 or s.load.get("share")}
        roster.requirement = build.requirement_load(f, _target(args, cfg), shares, roster.intervals,
                                                    roster.interval_min)
        roster.requirement_source = f"load: {args.forecast} (population {pop:,})"
    else:
        roster.requirement = build.requirement_rule(sizes, roster.intervals)
        roster.requirement_source = "rule: every seat staffed"


def _forecast_share(size, forecast_population: int) -> float:
    """A city takes the forecast in proportion to its people; the province (no population of its own)
    takes its configured share of the cities' calls, which are the forecast scaled to their people."""
    if size.population > 0:
        return size.population / forecast_population
    return size.load["share"] * size.load["cities_population"] / forecast_population


def _solve_all(args, settings, roster) -> list:
    """Solve center by center; the time limit is shared out by headcount, what one leaves goes on."""
    from seats.solver import solve_center

    centers = [c for c in roster.centers() if any(p.center == c for p in roster.people)]
    limit = args.time_limit if args.time_limit is not None else settings["time_limit_s"]
    people_left, budget, stats_all = len(roster.people), limit, []
    with _progress(not args.no_progress and not args.json) as progress:
        for center in centers:
            n = sum(1 for p in roster.people if p.center == center)
            share = max(2.0, budget * n / people_left) if len(centers) > 1 else limit
            task = progress.add_task("solve", total=share, center=center, status="")

            def tick(_c, elapsed, lim, best, worst, task=task):
                status = "" if best is None else f"{_short_hours(best, roster)} (worst interval {worst} short)"
                progress.update(task, completed=min(elapsed, lim), status=status)

            stats = solve_center(roster, center, time_limit_s=share,
                                 workers=args.workers or settings["workers"],
                                 gap_ratio=args.gap if args.gap is not None else settings["gap_ratio"],
                                 progress=tick)
            done = "no roster found" if stats.objective is None else _short_hours(stats.objective, roster)
            how = f"{stats.status}, greedy start kept" if stats.fallback else stats.status
            progress.update(task, completed=share, status=f"{how}: {done}")
            stats_all.append(stats)
            budget, people_left = max(0.0, budget - stats.wall_s), max(1, people_left - n)
    return stats_all


def cmd_roster_new(args) -> int:
    from seats import build, checks, roster as rmod, staff

    _check_out(args.out)
    cfg = _cfg(args)
    settings = build.roster_settings(cfg)
    pattern = args.pattern or settings["pattern"]
    sizes = _roster_sizes(args, cfg)
    people, agents = _roster_people(args, cfg, sizes, pattern)
    start = args.start or (dt.date.today() + dt.timedelta(days=(7 - dt.date.today().weekday()) % 7 or 7))
    roster = build.new_roster(people, start, args.days, args.interval_min, cfg)
    _roster_requirement(args, cfg, roster, sizes)
    roster.skill_requirement = staff.skill_requirement(roster, agents)
    cap = staff.capacity(roster, roster.rules, cfg.operators_per_seat)
    if not args.json:  # before the solve: a shortfall by design is said up front, with its size
        _console().print(_esc(staff.capacity_line(cap)))
    stats_all = _solve_all(args, settings, roster)
    roster.solver = {"pattern": pattern, "centers": [s.as_dict() for s in stats_all], "capacity": cap}
    rmod.save(roster, args.out)
    violations = checks.check(roster)
    cov = checks.coverage_report(roster)
    line = f"roster saved to {args.out}: {checks.short_line(cov)}"
    if args.json:
        _out_json({
            "roster": args.out, "start": roster.start.isoformat(), "days": roster.days,
            "people": len(roster.people), "acd_agents": sum(1 for p in roster.people if staff.is_acd_agent(p)),
            "duties": len(roster.duties), "requirement": roster.requirement_source,
            "violations": len(violations), "capacity": cap, "coverage": cov,
            "skills": checks.skill_report(roster), "solver": roster.solver["centers"],
            "shortfalls": {c: checks.group_shortfalls(roster, c) for c in cov}, "result": line,
        })
    else:
        _print_check(roster, violations, cov, show_shortfalls=True)
        _console().print(_esc(line))
    return 0


def _print_check(roster, violations, cov, show_shortfalls=False) -> None:
    from rich.table import Table

    from seats import checks

    c = _console()
    t = Table(title=f"Coverage ({roster.requirement_source})")
    for col in ("center", "people", "short intervals", "short agent-hours", "coverage", "staffed", "worst"):
        t.add_column(col, justify="right")
    for center, rep in cov.items():
        worst = rep["worst"]
        t.add_row(center, str(sum(1 for p in roster.people if p.center == center)),
                  f"{rep['short_intervals']}/{rep['intervals']}", f"{rep['short_agent_hours']:g}",
                  f"{rep['coverage_pct']}%", f"{rep.get('staffed_pct', 100.0)}%",
                  "-" if not worst else f"{worst['at']} {worst['on_duty']}/{worst['needed']}")
    c.print(t)
    _print_skills(roster)
    if show_shortfalls:
        for center in cov:
            spans = checks.group_shortfalls(roster, center)
            if spans:
                c.print(f"[bold]{center}[/] falls short in {len(spans)} stretches, e.g.:")
                for s in sorted(spans, key=lambda s: -s["agent_hours"])[:8]:
                    c.print(f"  {s['from']} to {s['to']}: up to {s['max_short']} people short, "
                            f"{s['agent_hours']:g} agent-hours")
    if violations:
        c.print(f"[red]{len(violations)} rule violation(s):[/]")
        for v in violations[:50]:
            c.print(f"  {_esc(v)}")
        if len(violations) > 50:
            c.print(f"  ... and {len(violations) - 50} more (use --json)")
    else:
        c.print("[green]no labour-rule violations[/]")


def _print_skills(roster) -> None:
    from rich.table import Table

    from seats import checks

    report = checks.skill_report(roster)
    if not report:
        return
    t = Table(title="Skills on duty (at least one holder while a holder is meant to be there)")
    for col in ("center", "skill", "holders", "short intervals", "coverage", "first gap"):
        t.add_column(col, justify="right")
    for center, per in report.items():
        for skill, rep in per.items():
            t.add_row(center, skill, str(len(rep["holders"])), f"{rep['short_intervals']}/{rep['wanted_intervals']}",
                      f"{rep['coverage_pct']}%", rep["first_gap"] or "-")
    _console().print(t)


def cmd_roster_check(args) -> int:
    from seats import checks, roster as rmod

    roster = rmod.load(args.roster)
    violations = checks.check(roster)
    cov = checks.coverage_report(roster)
    if args.json:
        _out_json({"violations": [v.as_dict() for v in violations], "coverage": cov,
                   "skills": checks.skill_report(roster),
                   "shortfalls": {c: checks.group_shortfalls(roster, c) for c in cov}})
    else:
        _print_check(roster, violations, cov, show_shortfalls=True)
        _console().print(_esc(f"coverage: {checks.short_line(cov)}"))
    return 1 if any(v.kind == "law" for v in violations) else 0


def cmd_roster_show(args) -> int:
    from rich.table import Table

    from seats import checks, roster as rmod

    roster = rmod.load(args.roster)
    people = [p for p in roster.people
              if (not args.person or p.id in args.person) and (not args.center or p.center == args.center)]
    if not people:
        raise SeatsError("no call-taker matches --person/--center")
    t = Table(title=f"Roster from {roster.start} for {roster.days} days ('-' rest, lower case leave)")
    t.add_column("person")
    t.add_column("center")
    t.add_column("skills")
    t.add_column("days")
    for col in ("shifts", "nights", "weekends", "hours"):
        t.add_column(col, justify="right")
    for p in people[: args.limit]:
        cells = []
        for d in range(roster.days):
            duty = roster.duties.get((p.id, d))
            if duty:
                cells.append(duty.shift + ("+" if duty.overtime_min else ""))
            elif (p.id, d) in roster.leave:
                cells.append(roster.leave[(p.id, d)][0])
            else:
                cells.append("-")
            if d % 7 == 6:
                cells.append(" ")
        cnt = checks.counts(roster, p.id)
        hours = sum((e - s) / 60 for s, e in (roster.duty_span(d, u) for d, u in roster.person_duties(p.id)))
        t.add_row(p.id, p.center, ",".join(s for s in sorted(p.skills) if s != "zh") or "-", "".join(cells), str(cnt["shifts"]), str(cnt["nights"]), str(cnt["weekends"]),
                  f"{hours:g}")
    _console().print(t)
    if len(people) > args.limit:
        _console().print(f"... {len(people) - args.limit} more (raise --limit)")
    return 0


def cmd_roster_change(args) -> int:
    from seats import changes, roster as rmod

    roster = rmod.load(args.roster)
    change = {"kind": args.kind, "person": args.person}
    if args.kind == "leave":
        change.update({"from": args.date_from, "to": args.date_to, "leave": args.leave_kind})
    elif args.kind == "swap":
        change.update({"with": args.with_, "from": args.date_from, "to": args.date_to})
    elif args.kind == "overtime":
        change.update({"date": args.date, "hours": args.hours, "shift": args.shift})
    elif args.kind == "move":
        change.update({"to_center": args.to_center})
    elif args.kind in ("assign", "unassign"):
        change.update({"date": args.date, "shift": getattr(args, "shift", None)})
    change = {k: v for k, v in change.items() if v is not None}
    if not args.by.strip() or not args.why.strip():
        raise SeatsError("--by and --why must not be empty: every change says who and why")
    after = changes.apply(roster, change)
    imp = changes.impact(roster, after)
    refused = imp.breaks and not args.force
    saved = not refused and not args.dry_run
    entry = None
    if saved:
        entry = changes.record(after, change, imp, args.by, args.why, forced=imp.breaks)
        rmod.save(after, args.roster)
    if args.json:
        _out_json({"change": change, "impact": imp.as_dict(), "saved": saved, "record": entry})
    else:
        c = _console()
        for line in imp.lines():
            c.print(("[red]" if line.startswith("breaks") else "[green]") + _esc(line) + "[/]")
        if not imp.lines():
            c.print("[green]no rule or coverage is affected[/]")
        if refused:
            c.print("[bold red]not saved[/]: the change breaks the rules above; add --force to save it anyway")
        elif args.dry_run:
            c.print("dry run: not saved")
        else:
            c.print(f"saved as change #{entry['id']} by {args.by} at {entry['at']}")
    return 1 if refused else 0


def cmd_roster_log(args) -> int:
    from seats import roster as rmod

    roster = rmod.load(args.roster)
    if args.json:
        _out_json(roster.changes)
        return 0
    c = _console()
    if not roster.changes:
        c.print("no changes recorded")
    for e in roster.changes:
        forced = " [red](forced)[/]" if e.get("forced") else ""
        c.print(f"#{e['id']} {e['at']} by {_esc(e['by'])}{forced}: "
                f"{_esc(json.dumps(e['change'], ensure_ascii=False))}")
        c.print(f"    why: {_esc(e['why'])}")
        for b in e.get("breaks", []):
            c.print(f"    {_esc(b)}")
    return 0


def cmd_roster_export(args) -> int:
    from seats import export, roster as rmod

    roster = rmod.load(args.roster)
    if not args.csv and not args.ics_dir:
        raise SeatsError("give --csv FILE and/or --ics-dir DIR")
    c = _console()
    for flag, target, write, what in (("--csv", args.csv, export.write_csv, "duties written to"),
                                      ("--ics-dir", args.ics_dir, export.write_ics, "calendars written to")):
        if not target:
            continue
        try:
            n = write(roster, target)
        except OSError as exc:
            raise SeatsError(f"{flag} {target}: cannot write {exc.filename or target}: "
                             f"{exc.strerror or exc}") from None
        c.print(f"{n} {what} {target}")
    return 0


def cmd_roster_on_duty(args) -> int:
    from seats import roster as rmod

    roster = rmod.load(args.roster)
    when = args.at or dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    result = rmod.on_duty(roster, when)
    if args.center:
        result = {args.center: result.get(args.center, [])}
    if args.json:
        _out_json({"at": when.isoformat(timespec="minutes"), "centers": result})
        return 0
    c = _console()
    for center, rows in result.items():
        acd = [r for r in rows if r["agent_id"]]
        new = len(rows) - len(acd)
        extra = f" ({len(acd)} ACD agent(s), {new} not yet in acd.yaml)" if new else ""
        c.print(f"[bold]{center}[/] at {when:%Y-%m-%d %H:%M}: {len(rows)} expected on duty{extra}")
        for r in acd:  # ACD agent ids first: what the console and adherence match on
            skills = ",".join(r.get("skills", []))
            c.print(f"  {r['agent_id']:<16} {r['shift']}  until {r['until'][11:]}  {skills}")
        for r in rows:
            if not r["agent_id"]:
                c.print(_esc(f"  {'-':<16} {r['shift']}  until {r['until'][11:]}  {r['person']} (no ACD agent yet)"))
    return 0


# ---------------------------------------------------------------- adherence
def cmd_adherence(args) -> int:
    from seats import roster as rmod
    from seats.adherence import adherence, read_agent_log

    roster = rmod.load(args.roster)
    if args.redis:
        return _adherence_now(args, roster)
    window = None
    if args.date_from or args.date_to:
        if not (args.date_from and args.date_to):
            raise SeatsError("give both --from and --to, or neither")
        window = (dt.datetime.combine(args.date_from, dt.time()),
                  dt.datetime.combine(args.date_to + dt.timedelta(days=1), dt.time()))
    if args.records_db:
        from seats.history import read_agent_history

        events = read_agent_history(args.records_db, *(window or (None, None)))
    else:
        events = read_agent_log(args.log)
    rep = adherence(roster, events, grace_min=args.grace_min, window=window)
    if args.json:
        _out_json(rep)
        return 0
    from rich.table import Table

    tot = rep["total"]
    t = Table(title=f"Adherence {rep['window'][0]} to {rep['window'][1]} (grace {args.grace_min:g} min)")
    for col in ("person", "scheduled", "logged", "adherence", "absent", "late", "early"):
        t.add_column(col, justify="right")
    for p in rep["people"][: args.limit]:
        t.add_row(p["person"], str(p["scheduled_min"]), f"{p['logged_min']:g}",
                  f"{p['adherence']:.1%}", str(p["absent"]), str(p["late"]), str(p["early"]))
    c = _console()
    c.print(t)
    c.print(f"{tot['duties']} duties: adherence {tot['adherence']:.1%}, {tot['absent']} absent, "
            f"{tot['late']} late, {tot['early']} left early")
    if rep.get("duties_without_agent"):
        c.print(f"{rep['duties_without_agent']} duties of people not yet in acd.yaml (new-...): not judged")
    if rep["unrostered_agents"]:
        c.print(f"logged in but not in the roster: {', '.join(rep['unrostered_agents'][:20])}")
    return 0


def _adherence_now(args, roster) -> int:
    from seats.acd_state import read_agent_states, snapshot

    host, sep, port = args.redis.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise SeatsError(f"--redis {args.redis!r}: expected HOST:PORT")
    states = read_agent_states(host, int(port), prefix=args.prefix, db=args.db)
    when = args.at or dt.datetime.now(dt.timezone(dt.timedelta(hours=8))).replace(tzinfo=None)
    rep = snapshot(roster, states, when)
    if args.json:
        _out_json(rep)
        return 0
    c = _console()
    for center, row in rep["centers"].items():
        missing = f"; missing: {', '.join(row['missing'][:15])}" if row["missing"] else ""
        c.print(f"{center}: {row['logged_in']}/{row['expected']} expected agents logged in{_esc(missing)}")
    if rep["logged_in_off_roster"]:
        c.print(f"logged in but not rostered now: {', '.join(rep['logged_in_off_roster'][:20])}")
    if rep["logged_in_unknown"]:
        c.print(f"logged in, in no roster: {', '.join(rep['logged_in_unknown'][:20])}")
    tot = rep["total"]
    c.print(f"at {rep['at']}: {tot['logged_in']}/{tot['expected']} ({tot['adherence']:.1%})")
    return 0


# ---------------------------------------------------------------- parser
SHARE_RULE = "a plain number up to 1 is a fraction, above 1 a percentage: 0.9, 90 and 90%% are all 90%%"


def _service_flags(p: argparse.ArgumentParser, calls: bool = False) -> None:
    p.add_argument("--target-sl", type=_target_sl,
                   help=f"share of calls answered within --within-s, from 10%% to below 100%% ({SHARE_RULE})")
    p.add_argument("--within-s", type=_nonneg, help="answer target in seconds (GB/T 33358: 15)")
    p.add_argument("--patience-s", type=_positive(float), help="callers' mean patience: use Erlang A")
    p.add_argument("--shrinkage", type=_shrinkage,
                   help="share of rostered time off the phones, below 100%% (0.3 or 30)")
    p.add_argument("--max-occupancy", type=_occupancy, help="cap on agents' busy share, up to 100%% (0.85 or 85)")
    if not calls:
        p.add_argument("--aht-s", type=_positive(float), help="average handling time when the forecast has none")


def build_parser() -> argparse.ArgumentParser:
    parser = cli.Parser(prog="seats", description="Seat planning for the 12345 hotline centers")
    parser.add_argument("--config", default=None, help="seats.yaml: rates, rules, shifts (default: in the config folder)")
    parser.add_argument("--centers", default=None, help="centers.yaml: populations (default: in the config folder)")
    cli.add_common(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    p = sub.add_parser("size", help="seats and call-takers by the plan's rule")
    p.add_argument("--json", action="store_true")
    p.add_argument("--rounding", choices=["ceil", "nearest", "floor"])
    p.add_argument("--rate", type=_nonneg, help="seats per million inhabitants")
    p.add_argument("--per-seat", type=_positive(int), help="call-takers per seat")
    p.set_defaults(func=cmd_size)

    p = sub.add_parser("erlang", help="agents for one interval (Erlang C, or A with --patience-s)")
    p.add_argument("--calls", type=_nonneg, required=True, help="calls offered in the interval")
    p.add_argument("--interval-min", type=_positive(float), required=True)
    p.add_argument("--aht-s", type=_positive(float), required=True, help="average handling time, seconds")
    p.add_argument("--agents", type=_positive(int), help="evaluate this headcount instead of sizing")
    _service_flags(p, calls=True)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_erlang)

    p = sub.add_parser("need", help="agents needed per interval of a forecast CSV")
    p.add_argument("--forecast", required=True)
    _service_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_need)

    p = sub.add_parser("compare", help="the rule's staffing beside the load's, table and chart")
    p.add_argument("--forecast", required=True)
    p.add_argument("--center", required=True, help="center id from centers.yaml")
    p.add_argument("--share", type=_positive(float), default=1.0, help="scale the forecast's calls")
    p.add_argument("--chart", help="write a PNG or SVG chart here")
    _service_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    rp = sub.add_parser("roster", help="build, check, change and export rosters")
    rsub = rp.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = rsub.add_parser("new", help="build a roster with CP-SAT")
    p.add_argument("--out", required=True, help="roster file to write (JSON)")
    p.add_argument("--center", action="append", help="center id (repeat); default all centers")
    p.add_argument("--people", help="people CSV: id,name,center,agent_id,pattern (default: from the rule)")
    p.add_argument("--start", type=_date, help="first day (default next Monday)")
    p.add_argument("--days", type=_positive(int), default=28)
    p.add_argument("--interval-min", type=int, choices=[15, 30], default=30)
    p.add_argument("--require", choices=["rule", "load"], help="coverage to meet (default load with --forecast)")
    p.add_argument("--forecast", help="forecast CSV for --require load")
    p.add_argument("--forecast-population", type=_positive(int),
                   help="population the forecast stands for; centers get calls by population share")
    p.add_argument("--pattern", help="shift pattern from seats.yaml (three_shift, four_crew, ...)")
    p.add_argument("--time-limit", type=_positive(float), help="solver seconds in all")
    p.add_argument("--workers", type=_positive(int))
    p.add_argument("--gap", type=_nonneg, help="stop within this share of the bound (0.01 = 1%%)")
    p.add_argument("--no-progress", action="store_true")
    _service_flags(p)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_roster_new)

    p = rsub.add_parser("check", help="labour rules and coverage of a roster")
    p.add_argument("roster")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_roster_check)

    p = rsub.add_parser("show", help="print people's shifts day by day")
    p.add_argument("roster")
    p.add_argument("--person", action="append")
    p.add_argument("--center")
    p.add_argument("--limit", type=_positive(int), default=60)
    p.set_defaults(func=cmd_roster_show)

    p = rsub.add_parser("change", help="leave, sickness, swap, overtime, move; re-checked before saving")
    p.add_argument("roster")
    csub = p.add_subparsers(dest="kind", metavar="KIND", required=True)

    def common(cp):
        cp.add_argument("--person", required=True)
        cp.add_argument("--by", required=True, help="who makes the change")
        cp.add_argument("--why", required=True, help="why")
        cp.add_argument("--force", action="store_true", help="save even if it breaks rules or coverage")
        cp.add_argument("--dry-run", action="store_true", help="report what it breaks, save nothing")
        cp.add_argument("--json", action="store_true")
        return cp

    cp = common(csub.add_parser("leave", help="leave or sickness over a date range"))
    cp.add_argument("--from", dest="date_from", required=True)
    cp.add_argument("--to", dest="date_to")
    cp.add_argument("--kind", dest="leave_kind", default="leave",
                    choices=["leave", "sick", "annual", "personal", "training"])
    cp = common(csub.add_parser("swap", help="swap two people's shifts on a date (range)"))
    cp.add_argument("--with", dest="with_", required=True)
    cp.add_argument("--from", dest="date_from", required=True)
    cp.add_argument("--to", dest="date_to")
    cp = common(csub.add_parser("overtime", help="extend a shift (--hours) or add one on a rest day (--shift)"))
    cp.add_argument("--date", required=True)
    g = cp.add_mutually_exclusive_group(required=True)
    g.add_argument("--hours", type=_positive(float))
    g.add_argument("--shift")
    cp = common(csub.add_parser("move", help="move someone to another center"))
    cp.add_argument("--to", dest="to_center", required=True)
    cp = common(csub.add_parser("assign", help="give someone a shift on a date"))
    cp.add_argument("--date", required=True)
    cp.add_argument("--shift", required=True)
    cp = common(csub.add_parser("unassign", help="take someone's shift away on a date"))
    cp.add_argument("--date", required=True)
    p.set_defaults(func=cmd_roster_change)

    p = rsub.add_parser("log", help="every change with who, when and why")
    p.add_argument("roster")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_roster_log)

    p = rsub.add_parser("on-duty", help="who the roster expects on duty at a moment (for the ACD)")
    p.add_argument("roster")
    p.add_argument("--at", type=_datetime, help="local time, YYYY-MM-DDTHH:MM (default now, China time)")
    p.add_argument("--center")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_roster_on_duty)

    p = rsub.add_parser("export", help="CSV and one iCalendar file per call-taker")
    p.add_argument("roster")
    p.add_argument("--csv")
    p.add_argument("--ics-dir")
    p.set_defaults(func=cmd_roster_export)

    p = sub.add_parser("adherence", help="roster against the ACD's agent log-ins")
    p.add_argument("roster")
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--log", help="agent log, JSONL or CSV: agent_id,event,ts")
    src.add_argument("--redis", metavar="HOST:PORT", help="the ACD's Redis: who is logged in now")
    src.add_argument("--records-db", metavar="URL",
                     help="the records database (acd db): log-ins and log-outs from the agent state history")
    p.add_argument("--prefix", default="{hotline}:", help="the ACD's Redis key prefix")
    p.add_argument("--db", type=int, default=0)
    p.add_argument("--at", type=_datetime, help="with --redis: roster time to compare with (default now)")
    p.add_argument("--grace-min", type=_nonneg, default=5.0)
    p.add_argument("--from", dest="date_from", type=_date)
    p.add_argument("--to", dest="date_to", type=_date)
    p.add_argument("--limit", type=_positive(int), default=50)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_adherence)
    return parser


def main(argv: list[str] | None = None) -> int:
    return cli.run("seats", build_parser(), argv, _main)


def _main(args) -> int:
    args.config = args.config or str(paths.config_file("seats.yaml"))
    args.centers = args.centers or str(paths.config_file("centers.yaml"))
    return int(args.func(args) or 0)


if __name__ == "__main__":
    from seats.cli import main as imported_main   # one SeatsError class, not this copy's

    sys.exit(imported_main())
