"""Sizing centers: by the plan's rule, by a fixed number, or by the load a center takes.

Rounding is a policy (domain.md: Changchun is 136.004 seats), so every figure
keeps the exact value beside the rounded one and the policy is named.  The
plan's rule counts inhabitants, which gives the province center nothing: it
has no population of its own but takes every city's province matters and the
overflow.  So a center can be sized instead by a share of the cities' calls
(``rule.by_load``, the forecast and Erlang) or fixed (``rule.fixed_seats``),
and each figure carries the sentence saying how it was reached: a supervisor
asked "why 28?" must find the answer in the table.
"""

from __future__ import annotations

import math
import pathlib
from dataclasses import dataclass, field

from seats.config import Center, SeatsConfig
from seats.errors import SeatsError

POPULATION, FIXED, LOAD = "population", "fixed", "load"


@dataclass(frozen=True)
class CenterSize:
    center: str
    name: str
    population: int
    exact_seats: float
    seats: int
    operators: int
    fixed: bool = False
    basis: str = POPULATION          # population | fixed | load
    reason: str = ""                 # how the figure was reached, in words
    load: dict = field(default_factory=dict)   # for basis "load": erlangs, peak, share, forecast ...


def round_seats(value: float, policy: str) -> int:
    # a hair of tolerance so 136.0000000001 from float noise is not "137"
    if policy == "ceil":
        return math.ceil(value - 1e-9)
    if policy == "floor":
        return math.floor(value + 1e-9)
    if policy == "nearest":
        return math.floor(value + 0.5)  # half up, not banker's rounding
    raise ValueError(f"unknown rounding policy {policy!r}")


def size_center(center: Center, cfg: SeatsConfig, load: dict | None = None) -> CenterSize:
    exact = center.population / 1_000_000 * cfg.seats_per_million
    common = dict(center=center.id, name=center.name, population=center.population)
    if center.id in cfg.fixed_seats:
        seats = cfg.fixed_seats[center.id]
        return CenterSize(**common, exact_seats=exact, seats=seats, operators=seats * cfg.operators_per_seat,
                          fixed=True, basis=FIXED, reason=f"fixed in {cfg.path.name} (rule.fixed_seats)")
    if load is not None:
        seats = load["agents"]
        return CenterSize(**common, exact_seats=float(seats), seats=seats, operators=seats * cfg.operators_per_seat,
                          basis=LOAD, reason=load["reason"], load=load)
    seats = round_seats(exact, cfg.rounding)
    return CenterSize(**common, exact_seats=exact, seats=seats, operators=seats * cfg.operators_per_seat,
                      reason=f"{cfg.seats_per_million:g}/M × {center.population:,} = {exact:.2f}, {cfg.rounding}")


def center_load(cid: str, spec: dict, cities_population: int, cfg: SeatsConfig) -> dict:
    """The agents the busiest interval needs when the center takes ``share`` of the cities' calls."""
    from seats.forecast import Forecast, read_forecast
    from seats.staffing import ServiceTarget, needs

    path = pathlib.Path(spec["forecast"])
    if not path.is_absolute():
        path = cfg.path.parent / path
    if not path.is_file():
        raise SeatsError(f"rule.by_load.{cid}.forecast: no such file {path}",
                         where=cfg.where_of.get(f"by_load.{cid}.forecast"))
    f = read_forecast(path)
    scale = spec["share"] * cities_population / spec["forecast_population"]
    f = Forecast(f.start, f.interval_min, tuple(c * scale for c in f.calls), f.aht_s, f.source, f.lines)
    target = ServiceTarget.from_config(cfg)
    rows = needs(f, target)
    peak = max(rows, key=lambda n: (n.result.agents, n.result.load_erlangs))
    days = len(f) * f.interval_min / 1440
    calls_day = sum(f.calls) / days if days else 0.0
    erl = peak.result.load_erlangs
    return {
        "agents": peak.result.agents, "erlangs": round(erl, 2),
        "peak": f.time(peak.index).isoformat(timespec="minutes"), "share": spec["share"],
        "cities_population": cities_population, "calls_per_day": round(calls_day, 1),
        "forecast": str(path), "forecast_population": spec["forecast_population"],
        "target_sl": target.target_sl, "within_s": target.within_s, "note": spec.get("note", ""),
        "reason": (f"from load: {spec['share']:.0%} of the cities' calls ({calls_day:,.0f} a day), "
                   f"{erl:.1f} erlangs at the peak {f.time(peak.index):%a %H:%M}, "
                   f"{target.target_sl:.0%} in {target.within_s:g} s"),
    }


def size_province(centers: list[Center], cfg: SeatsConfig) -> dict:
    """Per-center sizes and the province total (the sum of the rounded centers)."""
    by_load = getattr(cfg, "by_load", {}) or {}
    known = {c.id for c in centers}
    for cid in by_load:
        if cid not in known:
            raise SeatsError(f"rule.by_load names center '{cid}', which is not in centers.yaml "
                             f"(known: {', '.join(sorted(known))})", where=cfg.where_of.get(f"by_load.{cid}.forecast"))
    cities = sum(c.population for c in centers if c.id not in by_load and c.id not in cfg.fixed_seats)
    loads = {cid: center_load(cid, spec, cities, cfg) for cid, spec in by_load.items()}
    rows = [size_center(c, cfg, loads.get(c.id)) for c in centers]
    population = sum(r.population for r in rows)
    exact = sum(r.exact_seats for r in rows)
    seats = sum(r.seats for r in rows)
    plan = [r for r in rows if r.basis == POPULATION]
    plan_seats = sum(r.seats for r in plan)
    return {
        "rule": {
            "seats_per_million": cfg.seats_per_million,
            "operators_per_seat": cfg.operators_per_seat,
            "rounding": cfg.rounding,
            "total": "sum of the rounded centers",
        },
        "centers": rows,
        "total": {
            "population": population,
            "exact_seats": exact,
            "seats": seats,
            "operators": seats * cfg.operators_per_seat,
            "seats_if_rounded_once": round_seats(exact, cfg.rounding),
            "by_rule": {           # the centers sized by inhabitants alone: the plan's own figure
                "centers": len(plan),
                "exact_seats": sum(r.exact_seats for r in plan),
                "seats": plan_seats,
                "operators": plan_seats * cfg.operators_per_seat,
            },
        },
    }
