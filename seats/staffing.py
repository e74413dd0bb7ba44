"""Agents needed per interval of a forecast, and people to roster for them."""

from __future__ import annotations

from dataclasses import dataclass

from seats.erlang import Staffing, agents_needed, scheduled
from seats.errors import SeatsError
from seats.forecast import Forecast


@dataclass(frozen=True)
class ServiceTarget:
    target_sl: float = 0.90
    within_s: float = 15.0
    aht_s: float = 240.0
    patience_s: float | None = None
    max_occupancy: float = 0.85
    shrinkage: float = 0.30
    max_agents: int = 20000

    @classmethod
    def from_config(cls, cfg, **overrides) -> "ServiceTarget":
        values = dict(
            target_sl=cfg.target_sl, within_s=cfg.within_s, aht_s=cfg.aht_s,
            patience_s=cfg.patience_s, max_occupancy=cfg.max_occupancy,
            shrinkage=cfg.shrinkage, max_agents=cfg.max_agents,
        )
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class IntervalNeed:
    index: int
    calls: float
    result: Staffing
    rostered: int  # agents / (1 - shrinkage), rounded up


def needs(forecast: Forecast, target: ServiceTarget) -> list[IntervalNeed]:
    interval_s = forecast.interval_min * 60
    out = []
    for i, calls in enumerate(forecast.calls):
        aht = forecast.aht_s[i] or target.aht_s
        try:
            r = agents_needed(
                calls, interval_s, aht, target.target_sl, target.within_s,
                patience_s=target.patience_s, max_occupancy=target.max_occupancy,
                max_agents=target.max_agents,
            )
        except SeatsError as exc:
            raise SeatsError(
                f"interval {forecast.time(i):%Y-%m-%d %H:%M}: {exc}", where=forecast.where(i)
            ) from None
        out.append(IntervalNeed(i, calls, r, scheduled(r.agents, target.shrinkage)))
    return out
