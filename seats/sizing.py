"""Sizing by the plan's rule: seats per million inhabitants, call-takers per seat.

Rounding is a policy (domain.md: Changchun is 136.004 seats), so every figure
keeps the exact value beside the rounded one and the policy is named.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from seats.config import Center, SeatsConfig


@dataclass(frozen=True)
class CenterSize:
    center: str
    name: str
    population: int
    exact_seats: float
    seats: int
    operators: int
    fixed: bool = False


def round_seats(value: float, policy: str) -> int:
    # a hair of tolerance so 136.0000000001 from float noise is not "137"
    if policy == "ceil":
        return math.ceil(value - 1e-9)
    if policy == "floor":
        return math.floor(value + 1e-9)
    if policy == "nearest":
        return math.floor(value + 0.5)  # half up, not banker's rounding
    raise ValueError(f"unknown rounding policy {policy!r}")


def size_center(center: Center, cfg: SeatsConfig) -> CenterSize:
    exact = center.population / 1_000_000 * cfg.seats_per_million
    if center.id in cfg.fixed_seats:
        seats, fixed = cfg.fixed_seats[center.id], True
    else:
        seats, fixed = round_seats(exact, cfg.rounding), False
    return CenterSize(
        center=center.id,
        name=center.name,
        population=center.population,
        exact_seats=exact,
        seats=seats,
        operators=seats * cfg.operators_per_seat,
        fixed=fixed,
    )


def size_province(centers: list[Center], cfg: SeatsConfig) -> dict:
    """Per-center sizes and the province total (the sum of the rounded centers)."""
    rows = [size_center(c, cfg) for c in centers]
    population = sum(r.population for r in rows)
    exact = sum(r.exact_seats for r in rows)
    seats = sum(r.seats for r in rows)
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
        },
    }
