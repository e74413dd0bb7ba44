"""The hotline's figures per hour, day, week or month, and the GB/T 33358 daily summary.

The database does the counting: one pass over ``calls`` grouped by (center,
bucket) gives sums and counts only, so a province's month is a few thousand
rows however many calls it holds.  Means and shares are taken afterwards from
the sums, which is what lets days roll up to ISO weeks and calendar months
exactly (a mean of means would not).  Buckets are China time (UTC+8, no
daylight saving), computed from the epoch so both databases agree.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from sqlalchemy import (
    Integer, String, and_, case, cast, exists, func, literal_column, or_, select, text, union_all,
)
from sqlalchemy.ext.asyncio import AsyncEngine

from acd.db import schema
from acd.db.rows import GRADES, LABELS, SATISFIED

OFFSET = 28800                     # UTC+8 in seconds
HOUR, DAY = 3600, 86400
BY = ("hour", "day", "week", "month")
GBT_ANSWER_S = 15.0                # GB/T 33358: a person within 15 s
BUSY = ("ringing", "talking", "wrapup")
STAFFED = ("available",) + BUSY
STRADDLE_S = 7 * 86400             # no staffed state lasts longer than a week
_ONE, _ZERO = literal_column("1"), literal_column("0")

#: figure -> (label, definition); {sl} and {short} are filled from the configuration.
FIGURES: dict[str, tuple[str, str]] = {
    "offered": ("offered", ("inbound calls that reached the engine in the bucket (by start time); "
                            "callbacks the hotline dialled are not counted")),
    "answered": ("answered", "offered calls a person answered (outcome answered)"),
    "answered_sl": ("answered <= {sl:g} s", ("answered calls whose wait in the queue (entry to a person) "
                                             "was at most {sl:g} s")),
    "sl_share": ("share <= {sl:g} s", "answered <= {sl:g} s / answered"),
    "connection_rate": ("接通率", ("answered after queueing / (calls that reached a queue, i.e. asked for a "
                                  "person, minus short abandons): callers who hung up within {short:g} s of "
                                  "joining the queue did not really wait for anyone")),
    "queued": ("reached a queue", "offered calls that entered an ACD queue (asked for a person)"),
    "abandoned": ("abandoned", "offered calls where the caller hung up before a person answered"),
    "abandoned_short": ("  short", "abandoned in the queue less than {short:g} s after joining it"),
    "abandoned_other": ("  other", "abandoned minus short abandons"),
    "abandoned_ivr": ("  in the IVR", "abandoned before reaching a queue"),
    "abandoned_queue": ("  in a queue", "abandoned while waiting in a queue"),
    "asa_s": ("ASA s", "mean wait in the queue of answered calls (speed of answer)"),
    "aht_s": ("AHT s", "mean talk + wrap-up of answered calls (handle time)"),
    "talk_s": ("mean talk s", "mean talk time of answered calls"),
    "wrapup_s": ("mean wrap-up s", "mean wrap-up (after-call work) of answered calls"),
    "occupancy": ("occupancy", ("agents' time ringing, talking or in wrap-up / their time available, "
                                "ringing, talking or in wrap-up (paused and logged out do not count), from "
                                "the agent state log clipped to the bucket; with --center or --queue, the "
                                "agents config/acd.yaml gives that center or queue")),
    "transfers": ("transferred", ("offered calls with an answered transfer to another line, by the "
                                  "destination of the last transfer below")),
    "out_of_remit": ("out of remit", "offered calls that went through the out-of-remit flow (非受理范围)"),
    "callbacks": ("callbacks", "callbacks created in the bucket (by creation time)"),
    "callbacks_in_time": ("  in time", "of those, the ones that reached the caller by their deadline"),
    "rated": ("rated", "surveys (好差评) answered with a grade, by survey time"),
    "not_rated": ("not rated", "surveys the caller left without a grade: never counted as unhappy"),
    **{f"grade_{g}": (f"  {g} {LABELS[g]}", f"surveys graded {g} ({LABELS[g]})") for g in sorted(LABELS, reverse=True)},
    "satisfaction": ("satisfaction", "surveys graded " + "/".join(map(str, SATISFIED)) + " / rated"),
}

GBT_FIGURES: dict[str, tuple[str, str]] = {
    "offered": ("offered", FIGURES["offered"][1]),
    "answered": ("answered", FIGURES["answered"][1]),
    "within_15s": ("<= 15 s", ("answered calls where a person answered within 15 s of the IVR answering "
                               "(GB/T 33358 counts the caller's whole wait, menu included)")),
    "share_15s": ("share 15 s", "<= 15 s / answered, against records.answer_target ({answer:.0%})"),
    "connection_rate": ("接通率", FIGURES["connection_rate"][1] + ("; against records.connection_target "
                                                                   "({connection:.0%}, the standard's 24 h figure)")),
    "flagged": ("missed", ("the targets the day misses, which flags it (a share without calls to measure "
                           "is not judged)")),
}


@dataclass(slots=True)
class Report:
    lo: float
    hi: float
    by: str
    center: str = ""
    queue: str = ""
    buckets: list[tuple[str, dict]] = field(default_factory=list)
    total: dict = field(default_factory=dict)
    days: list[tuple[str, dict]] = field(default_factory=list)    # for the chart
    gbt: list[dict] = field(default_factory=list)
    definitions: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    gbt_definitions: dict[str, str] = field(default_factory=dict)
    empty: bool = True


def definitions(cfg) -> tuple[dict[str, str], dict[str, str], dict[str, str]]:
    """Labels, figure definitions and GB/T definitions with this configuration's thresholds."""
    values = {"sl": cfg.service_level_s, "short": cfg.records.short_abandon_s,
              "answer": cfg.records.answer_target, "connection": cfg.records.connection_target}
    labels = {k: lab.format(**values) for k, (lab, _) in FIGURES.items()}
    return (labels, {k: d.format(**values) for k, (_, d) in FIGURES.items()},
            {k: d.format(**values) for k, (_, d) in GBT_FIGURES.items()})


def _bucket(col, width: int, dialect: str):
    """Bucket number of an epoch column; literals only, so GROUP BY repeats the SELECT's text.

    PostgreSQL rounds a float cast to an integer, SQLite truncates: floor() on
    one, CAST on the other (epochs are positive, so truncation is the floor).
    """
    shifted = (col + literal_column(str(OFFSET))) / literal_column(f"{width}.0")
    return func.floor(shifted) if dialect == "postgresql" else cast(shifted, Integer)


def _n(cond):
    return func.sum(case((cond, _ONE), else_=_ZERO))


def _s(cond, value):
    return func.sum(case((cond, value), else_=_ZERO))


def _call_filters(lo, hi, center, queue):
    c = schema.calls.c
    where = [c.started_at >= lo, c.started_at < hi, c.kind == "inbound"]
    if center:
        where.append(c.center == center)
    if queue:
        where.append(c.queue == queue)
    return where


async def _calls(conn, width, lo, hi, center, queue, cfg) -> list[tuple[str, int, dict]]:
    c = schema.calls.c
    b = _bucket(c.started_at, width, conn.dialect.name)
    ans, gone = c.outcome == "answered", c.outcome == "abandoned"
    queued = c.queued_at.isnot(None)
    cols = {
        "offered": func.count(), "answered": _n(ans),
        "answered_sl": _n(and_(ans, c.wait_s <= cfg.service_level_s)),
        "waited": _n(and_(ans, c.wait_s.isnot(None))), "wait_sum": _s(and_(ans, c.wait_s.isnot(None)), c.wait_s),
        "talk_sum": _s(ans, c.talk_s), "wrapup_sum": _s(ans, c.wrapup_s),
        "queued": _n(queued), "queued_answered": _n(and_(ans, queued)),
        "abandoned": _n(gone), "abandoned_ivr": _n(and_(gone, c.abandoned_in == "ivr")),
        "abandoned_queue": _n(and_(gone, c.abandoned_in == "queue")),
        "abandoned_short": _n(and_(gone, c.abandoned_in == "queue", queued,
                                   c.ended_at - c.queued_at < cfg.records.short_abandon_s)),
        "out_of_remit": _n(c.out_of_remit.is_(True)),
        "within_15s": _n(and_(ans, c.to_person_s <= GBT_ANSWER_S)),
    }
    query = (select(c.center, b, *(v.label(k) for k, v in cols.items()))
             .where(*_call_filters(lo, hi, center, queue)).group_by(c.center, b))
    rows = await conn.execute(query)
    return [(r[0], int(r[1]), {k: r[i + 2] or 0 for i, k in enumerate(cols)}) for r in rows]


async def _transfers(conn, width, lo, hi, center, queue):
    c = schema.calls.c
    b = _bucket(c.started_at, width, conn.dialect.name)
    query = (select(b, c.transfer_to, func.count()).where(*_call_filters(lo, hi, center, queue), c.transfers > 0)
             .group_by(b, c.transfer_to))
    return [(int(k), {"transfers": n, f"transfer:{dest or '?'}": n}) for k, dest, n in await conn.execute(query)]


async def _surveys(conn, width, lo, hi, center, queue):
    s = schema.surveys.c
    b = _bucket(s.at, width, conn.dialect.name)
    where = [s.at >= lo, s.at < hi] + ([s.center == center] if center else []) + ([s.queue == queue] if queue else [])
    out = []
    for k, grade, n in await conn.execute(select(b, s.grade, func.count()).where(*where).group_by(b, s.grade)):
        out.append((int(k), {"not_rated": n} if grade is None else {"rated": n, f"grade_{int(grade)}": n}))
    return out


async def _callbacks(conn, width, lo, hi, center, queue):
    cb, c = schema.callbacks.c, schema.calls.c
    b = _bucket(cb.created_at, width, conn.dialect.name)
    where = [cb.created_at >= lo, cb.created_at < hi]
    if queue:
        where.append(cb.queue == queue)
    if center:
        where.append(exists().where(c.call_id == cb.missed_call_id, c.center == center))
    in_time = and_(cb.outcome == "answered", cb.ended_at.isnot(None), cb.deadline_at.isnot(None),
                   cb.ended_at <= cb.deadline_at)
    query = select(b, func.count(), _n(in_time)).where(*where).group_by(b)
    return [(int(k), {"callbacks": n, "callbacks_in_time": t or 0}) for k, n, t in await conn.execute(query)]


async def _occupancy(conn, width, lo, hi, agents: list[str] | None):
    """Busy and staffed seconds per bucket from the state log, in one scan.

    Each event carries when its state ended (``until``, filled in by the writer),
    so nothing pairs events up here.  The state an agent was already in when the
    range opens is the event before ``lo`` still going at ``lo`` (looked for
    within STRADDLE_S, longer than any staffed stretch).  The part of each state
    inside the bucket it began in is summed by the database; a state still going
    at its bucket's end sends its end back, to be spread here.
    """
    a = schema.agent_states.c
    mine = [a.agent_id.in_(agents)] if agents is not None else []
    hi_ = literal_column(repr(float(hi)))
    lo_ = literal_column(repr(float(lo)))
    ends_at = case((a.until.is_(None), hi_), (a.until > hi, hi_), else_=a.until)
    inside = select(a.state, a.at.label("s"), ends_at.label("e")).where(a.at >= lo, a.at < hi, *mine)
    before = select(a.state, lo_.label("s"), ends_at.label("e")).where(
        a.at < lo, a.at >= lo - STRADDLE_S, or_(a.until.is_(None), a.until > lo), *mine)
    ev = union_all(inside, before).subquery()
    b = _bucket(ev.c.s, width, conn.dialect.name)
    end = (b + _ONE) * literal_column(str(width)) - literal_column(str(OFFSET))
    crosses = ev.c.e > end
    part = func.sum(case((crosses, end - ev.c.s), else_=ev.c.e - ev.c.s))
    spill = case((crosses, cast(ev.c.e, String)))
    ends = func.string_agg(spill, ",") if conn.dialect.name == "postgresql" else func.group_concat(spill, ",")
    query = select(b, ev.c.state, part, ends).where(ev.c.state.in_(STAFFED)).group_by(b, ev.c.state)
    acc: dict[int, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for k, state, secs, spills in await conn.execute(query):
        k = int(k)
        acc[k][1] += secs or 0.0
        if state in BUSY:
            acc[k][0] += secs or 0.0
        for e in (spills or "").split(","):
            if e:
                _spread(acc, state, (k + 1) * width - OFFSET, float(e), width)
    return [(k, {"busy_s": v[0], "staffed_s": v[1]}) for k, v in acc.items()]


def _spread(acc, state, s: float, e: float, width: int) -> None:
    if state not in STAFFED or e <= s:
        return
    k = int((s + OFFSET) // width)
    while True:
        start, end = k * width - OFFSET, (k + 1) * width - OFFSET
        part = min(e, end) - max(s, start)
        if part > 0:
            acc[k][1] += part
            if state in BUSY:
                acc[k][0] += part
        if e <= end:
            return
        k += 1


def label(index: int, width: int, by: str) -> str:
    if by == "hour":
        return (dt.datetime(1970, 1, 1) + dt.timedelta(hours=index)).strftime("%Y-%m-%d %H:00")
    day = dt.date(1970, 1, 1) + dt.timedelta(days=index if width == DAY else index // 24)
    if by == "day":
        return day.isoformat()
    if by == "week":
        year, week, _ = day.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{day.year}-{day.month:02d}"


def _add(into: dict, sums: dict) -> None:
    for k, v in sums.items():
        into[k] = into.get(k, 0) + v


def figures(s: dict) -> dict:
    """The reported figures from a bucket's sums (shares and means are None without a denominator)."""
    def ratio(a, b):
        return None if not b else round(a / b, 4)

    def mean(a, b):
        return None if not b else round(a / b, 1)

    def get(key):
        return s.get(key, 0)

    answered = get("answered")
    out = {"offered": get("offered"), "answered": answered, "answered_sl": get("answered_sl"),
           "sl_share": ratio(get("answered_sl"), answered),
           "connection_rate": ratio(get("queued_answered"), get("queued") - get("abandoned_short")),
           "queued": get("queued"), "abandoned": get("abandoned"), "abandoned_short": get("abandoned_short"),
           "abandoned_other": get("abandoned") - get("abandoned_short"),
           "abandoned_ivr": get("abandoned_ivr"), "abandoned_queue": get("abandoned_queue"),
           "asa_s": mean(get("wait_sum"), get("waited")),
           "aht_s": mean(get("talk_sum") + get("wrapup_sum"), answered),
           "talk_s": mean(get("talk_sum"), answered), "wrapup_s": mean(get("wrapup_sum"), answered),
           "occupancy": ratio(get("busy_s"), get("staffed_s")), "transfers": get("transfers")}
    out.update({k: s[k] for k in sorted(s) if k.startswith("transfer:")})
    out.update({"out_of_remit": get("out_of_remit"), "callbacks": get("callbacks"),
                "callbacks_in_time": get("callbacks_in_time"), "rated": get("rated"), "not_rated": get("not_rated")})
    out.update({f"grade_{g}": get(f"grade_{g}") for g in sorted(GRADES.values(), reverse=True)})
    out["satisfaction"] = ratio(sum(get(f"grade_{g}") for g in SATISFIED), get("rated"))
    return out


def gbt_row(center: str, day: str, s: dict, cfg) -> dict:
    answered = s.get("answered", 0)
    share = round(s.get("within_15s", 0) / answered, 4) if answered else None
    base = s.get("queued", 0) - s.get("abandoned_short", 0)
    rate = round(s.get("queued_answered", 0) / base, 4) if base else None
    misses = ([] if share is None or share >= cfg.records.answer_target else ["15 s"]) + \
             ([] if rate is None or rate >= cfg.records.connection_target else ["接通率"])
    return {"center": center, "day": day, "offered": s.get("offered", 0), "answered": answered,
            "within_15s": s.get("within_15s", 0), "share_15s": share, "connection_rate": rate,
            "flagged": bool(misses), "misses": misses, "holiday": _holiday(day)}


def _holiday(day: str) -> bool:
    """A public holiday's calls are not a working day's: the same calendar the flows branch on says which."""
    from hotline import calendar

    return calendar.is_holiday(dt.date.fromisoformat(day))


async def build(engine: AsyncEngine, cfg, lo: float, hi: float, *, by: str = "day",
                center: str = "", queue: str = "") -> Report:
    width = HOUR if by == "hour" else DAY
    agents = None
    if center or queue:
        agents = [a.id for a in cfg.agents if (not center or a.center == center) and (not queue or queue in a.queues)]
    parts = await asyncio.gather(
        _on(engine, _calls, width, lo, hi, center, queue, cfg),
        _on(engine, _transfers, width, lo, hi, center, queue), _on(engine, _surveys, width, lo, hi, center, queue),
        _on(engine, _callbacks, width, lo, hi, center, queue),
        _on(engine, _occupancy, width, lo, hi, agents))
    calls, others = parts[0], [item for part in parts[1:] for item in part]
    return assemble(cfg, lo, hi, by, center, queue, width, calls, others)


async def _on(engine: AsyncEngine, query, *args):
    """Each part on its own connection, so the database works on them side by side."""
    async with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            # A report is a few big scans grouped into a few hundred buckets.  The planner takes a
            # bucket expression for unique per row and would sort the whole month (on disk) to
            # group it: hashing is what fits.  Compiling the scans (JIT) costs more than it saves.
            for setting in ("jit = off", "work_mem = '64MB'", "enable_sort = off"):
                await conn.execute(text(f"SET LOCAL {setting}"))
        return await query(conn, *args)


def assemble(cfg, lo, hi, by, center, queue, width, calls, others) -> Report:
    labels, defs, gdefs = definitions(cfg)
    rep = Report(lo, hi, by, center, queue, definitions=defs, labels=labels, gbt_definitions=gdefs)
    buckets: dict[str, dict] = defaultdict(dict)
    days: dict[str, dict] = defaultdict(dict)
    per_center: dict[tuple[str, str], dict] = defaultdict(dict)
    for where, k, sums in calls:
        _add(buckets[label(k, width, by)], sums)
        _add(days[label(k, width, "day")], sums)
        _add(per_center[(where, label(k, width, "day"))], sums)
    for k, sums in others:
        if sums.get("staffed_s", 1) or sums.get("busy_s"):
            _add(buckets[label(k, width, by)], sums)
    rep.empty = not buckets
    total: dict = {}
    for sums in buckets.values():
        _add(total, sums)
    rep.buckets = [(key, figures(buckets[key])) for key in sorted(buckets)]
    rep.total = figures(total)
    rep.days = [(key, figures(days[key])) for key in sorted(days)]
    rep.gbt = [gbt_row(c, d, per_center[(c, d)], cfg) for c, d in sorted(per_center)]
    return rep
