"""The plan's rule beside the real load, interval by interval.

The rule staffs every seat all the time; three call-takers a seat can only keep
``operators × hours_week / 168 × (1 - shrinkage)`` on the phones on average.
Both lines are shown against what the forecast needs, so a supervisor sees
where callers wait (rule below need) and where seats sit idle (rule above).
"""

from __future__ import annotations

import pathlib
from dataclasses import dataclass

from seats.erlang import evaluate
from seats.errors import SeatsError
from seats.forecast import Forecast
from seats.staffing import ServiceTarget, needs


@dataclass(frozen=True)
class Row:
    index: int
    start: str
    calls: float
    need: int               # agents on the phones for the target
    rule_seats: int         # every seat open
    sustainable: float      # what 3 call-takers a seat keep on the phones on average
    rule_sl: float          # service level with every seat open
    sustainable_sl: float   # service level with the sustainable headcount
    verdict: str            # "short", "idle" or "ok"


def compare(
    forecast: Forecast, target: ServiceTarget, seats: int, operators: int, hours_week: float
) -> list[Row]:
    sustainable = operators * hours_week / 168.0 * (1.0 - target.shrinkage)
    interval_s = forecast.interval_min * 60
    rows = []
    for n in needs(forecast, target):
        aht = forecast.aht_s[n.index] or target.aht_s
        rule_sl = evaluate(seats, n.calls, interval_s, aht, target.within_s, target.patience_s).service_level
        sus_sl = evaluate(int(sustainable), n.calls, interval_s, aht, target.within_s, target.patience_s).service_level
        need = n.result.agents
        verdict = "short" if seats < need else ("idle" if seats > need else "ok")
        rows.append(Row(
            n.index, forecast.time(n.index).strftime("%Y-%m-%d %H:%M"), n.calls, need, seats,
            round(sustainable, 1), rule_sl, sus_sl, verdict,
        ))
    return rows


def summary(rows: list[Row], interval_min: int) -> dict:
    short = [r for r in rows if r.verdict == "short"]
    idle = [r for r in rows if r.verdict == "idle"]
    hours = interval_min / 60
    return {
        "intervals": len(rows),
        "short_intervals": len(short),
        "idle_intervals": len(idle),
        "short_agent_hours": round(sum(r.need - r.rule_seats for r in short) * hours, 1),
        "idle_seat_hours": round(sum(r.rule_seats - r.need for r in idle) * hours, 1),
        "sustainable_short_intervals": sum(1 for r in rows if r.sustainable < r.need),
        "peak_need": max((r.need for r in rows), default=0),
    }


def chart(rows: list[Row], path: pathlib.Path, title: str) -> pathlib.Path:
    path = pathlib.Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise SeatsError(f"--chart {path}: give a .png or .svg file name")
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = list(range(len(rows)))
    need = [r.need for r in rows]
    rule = [r.rule_seats for r in rows]
    sus = [r.sustainable for r in rows]
    fig, ax = plt.subplots(figsize=(14, 5), dpi=100)
    ax.step(x, need, where="post", color="black", lw=1.4, label="needed by the load (Erlang)")
    ax.step(x, rule, where="post", color="tab:blue", lw=1.2, label="rule: every seat open")
    ax.step(x, sus, where="post", color="tab:purple", lw=1.0, ls="--",
            label="rule: what 3 call-takers a seat sustain")
    ax.fill_between(x, sus, need, where=[n > v for n, v in zip(need, sus)], step="post",
                    color="tab:orange", alpha=0.30, label="callers wait with what 3 a seat sustain")
    ax.fill_between(x, rule, need, where=[n > r for n, r in zip(need, rule)], step="post",
                    color="tab:red", alpha=0.45, label="callers wait even with every seat open")
    ax.fill_between(x, need, rule, where=[r > n for n, r in zip(need, rule)], step="post",
                    color="tab:gray", alpha=0.20, label="idle seats (every seat open, above need)")
    ax.set_ylim(bottom=0)
    # one tick per day, labelled with the date
    ticks = [i for i, r in enumerate(rows) if r.start.endswith("00:00")]
    ax.set_xticks(ticks, [rows[i].start[:10] for i in ticks], rotation=0, fontsize=8)
    ax.set_ylabel("agents on the phones")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
