"""Records database benchmark: the write path under a wallboard's reads, and a month's report.

    .venv/bin/python bench/bench_records.py                      # both databases, 200 rec/s for 30 s, 1.5 M calls
    .venv/bin/python bench/bench_records.py --quick              # 5 s, 100,000 calls
    .venv/bin/python bench/bench_records.py --db postgresql --json

Write path: engine-style call records are handed to a RecordWriter at ``--rate``
a second for ``--seconds`` while its run() task batches the spool into the
database and a second task, on its own connection, asks every 0.5 s what a
console wallboard asks (the last 15 minutes' calls per center).  The engine
only ever pays for submit_call, so that CPU is measured apart from the whole
process's (writer, reader and driver share the process here as they would in
``ivr serve``).  On SQLite the driver works in a thread of its own, which
process_time counts while a submit runs; the calling thread's own CPU is
printed beside it for that reason.

Month report: a province's November 2026 (China time) of synthetic calls,
surveys, callbacks and agent states is inserted in large transactions, then
``acd report`` is run as a person would run it, a new process each time, so
the figure includes the command starting.  Call legs are not generated: no
report reads them.  PostgreSQL gets ANALYZE after the load, as autovacuum
would have done by the time anyone asked for a month; SQLite gets nothing,
as nothing runs it in production.

Each database gets a fresh store (a temporary SQLite file, a PostgreSQL
database ``bench_records_<pid>`` dropped at the end).  Prints figures; the
only verdict is whether the report met its goal (under 2 s on PostgreSQL).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import datetime as dt
import itertools
import json
import os
import pathlib
import random
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import and_, case, func, insert, literal_column, select, text

from acd.config import CENTERS
from acd.db import migrate, rows, schema
from acd.db.connect import open_engine
from acd.db.spool import Spool
from acd.db.writer import BATCH, FLUSH_S, RecordWriter

ACD = ROOT / ".venv" / "bin" / "acd"
PG_ADMIN = {"user": "postgres", "host": "127.0.0.1", "port": 5432, "database": "postgres"}
CHINA = dt.timezone(dt.timedelta(hours=8))
MONTH_LO = dt.datetime(2026, 11, 1, tzinfo=CHINA).timestamp()
MONTH_HI = dt.datetime(2026, 12, 1, tzinfo=CHINA).timestamp()
REPORT_ARGS = ("report", "--from", "2026-11-01", "--to", "2026-12-01", "--by", "day", "--format", "json")
GOAL_S = 2.0
WALLBOARD_EVERY_S = 0.5
WALLBOARD_WINDOW_S = 900.0

#: Share of the province's calls: the cities by population (centers.yaml, in 10,000s); the
#: province center has no population of its own and takes the province-wide matters.
WEIGHT = {"province": 200, "changchun": 907, "jilin": 362, "yanbian": 194, "siping": 181, "tonghua": 130,
          "baicheng": 155, "liaoyuan": 100, "songyuan": 225, "baishan": 95, "meihekou": 51, "changbaishan": 6}
#: Calls by China-time hour: quiet nights, the morning peak, a lunch dip, the afternoon.
HOURLY = (4, 3, 2, 2, 2, 4, 9, 22, 60, 92, 100, 88, 58, 70, 94, 96, 86, 66, 44, 34, 28, 20, 12, 7)
WEEKEND = 0.7
TRANSFER_LINES = ("110", "119", "120", "12315", "95598", "12333")
DISPOSITIONS = ("咨询", "求助", "投诉", "建议", "表扬")
GRADE_WEIGHTS = ((5, 0.55), (4, 0.25), (3, 0.12), (2, 0.05), (1, 0.03))
STATE_WEIGHTS = (("talking", 0.55), ("available", 0.22), ("wrapup", 0.13), ("ringing", 0.03), ("paused", 0.07))


# -- shared bits ------------------------------------------------------------------------------------

def pct(values, q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def weighted(rng: random.Random, pairs):
    r, acc = rng.random(), 0.0
    for value, w in pairs:
        acc += w
        if r < acc:
            return value
    return pairs[-1][0]


def caller(rng: random.Random) -> str:
    return f"1{rng.choice('3456789')}{rng.randrange(10**9):09d}"


def agent_pool(total: int) -> dict[str, list[str]]:
    """Seats per center in proportion to its calls, so that every center has someone to answer."""
    whole = sum(WEIGHT.values())
    pool = {}
    for n, center in enumerate(CENTERS):
        count = max(2, round(total * WEIGHT[center] / whole))
        pool[center] = [f"{n + 1:02d}{i:03d}" for i in range(1, count + 1)]
    return pool


# -- the write path ---------------------------------------------------------------------------------

def engine_record(i: int, ended: float, rng: random.Random, pool: dict[str, list[str]]) -> dict:
    """A record as the engine hands it over when a call ends (shape of CallRecord.as_dict())."""
    center = rng.choices(CENTERS, weights=[WEIGHT[c] for c in CENTERS])[0]
    started = ended - 30 - rng.expovariate(1 / 180)
    r = {"call_id": f"w{i:07d}-{int(ended)}", "kind": "inbound", "channel": f"PJSIP/trunk-{i % 8}",
         "caller": caller(rng), "dialled": "12345", "started": started, "answered": started + 0.4,
         "queued": None, "agent_answered": None, "ended": ended, "agent": "", "queue": center,
         "center": center, "flow": center, "flow_version": "bench01", "keys": ["1"], "outcome": "",
         "reason": "program finished", "talk_s": 0.0, "wrapup_s": 0.0, "dial_attempts": [],
         "path": [{"flow": center, "node": "welcome"}, {"flow": center, "node": "menu"}], "survey": None,
         "agi_steps": 9}
    u = rng.random()
    if u < 0.88:
        r["queued"] = started + 0.4 + 2 + rng.random() * 6
        r["agent_answered"] = min(ended - 5, r["queued"] + rng.expovariate(1 / 7))
        agent, other = rng.sample(pool[center], 2)
        r.update(outcome="answered", agent=agent, talk_s=ended - r["agent_answered"], wrapup_s=10.0,
                 dial_attempts=[{"agent": other, "status": "NOANSWER"}, {"agent": agent, "status": "ANSWER"}])
        r["path"].append({"flow": center, "node": "to_agent"})
        if rng.random() < 0.75:
            r["path"].append({"flow": "survey", "node": "rate"})
            if rng.random() < 0.8:
                r["survey"] = rows.LABELS[weighted(rng, GRADE_WEIGHTS)]
    elif u < 0.96:
        if u >= 0.91:
            r["queued"] = started + 3
        r.update(outcome="abandoned", reason="caller hung up")
    else:
        r.update(outcome="completed")
        r["path"].append({"flow": rows.OUT_OF_REMIT_FLOW, "node": "explain"})
    return r


def items_of(record: dict) -> int:
    return 1 + len(record["dial_attempts"]) + (1 if rows.reached_survey(record) else 0)


async def wallboard(engine, stop: asyncio.Event, took: list[float]) -> None:
    """What a console asks over and over: it must not wait behind the writer, nor slow it."""
    c = schema.calls.c
    answered = func.sum(case((c.outcome == "answered", literal_column("1")), else_=literal_column("0")))
    async with engine.connect() as conn:
        while not stop.is_set():
            t0 = time.perf_counter()
            query = (select(c.center, func.count(), answered, func.avg(c.wait_s))
                     .where(and_(c.started_at >= time.time() - WALLBOARD_WINDOW_S, c.kind == "inbound"))
                     .group_by(c.center))
            async with conn.begin():      # a fresh snapshot each time; no transaction left idle between reads
                (await conn.execute(query)).all()
            took.append(time.perf_counter() - t0)
            try:
                await asyncio.wait_for(stop.wait(), max(0.0, WALLBOARD_EVERY_S - (time.perf_counter() - t0)))
            except TimeoutError:
                pass


def submit_alone(work: pathlib.Path, pool: dict[str, list[str]], count: int = 2000) -> float:
    """submit_call with nothing else running: the floor under the figure taken during the load."""
    rng = random.Random(0)
    spool = Spool(work / "alone" / "records-0.jsonl")
    writer = RecordWriter(None, spool, node="bench")
    records = [engine_record(i, time.time(), rng, pool) for i in range(count)]
    t0 = time.process_time()
    for r in records:
        writer.submit_call(r)
    took = time.process_time() - t0
    spool.close()
    return took / count


async def write_path(engine, work: pathlib.Path, args) -> dict:
    rng = random.Random(args.seed)
    pool = agent_pool(args.agents)
    alone = submit_alone(work, pool)
    spool = Spool(work / "spool" / "records-0.jsonl")
    writer = RecordWriter(engine, spool, node="bench", batch=args.batch, flush_s=args.flush_s)
    writer.lag_s = deque()          # every lag of the run, not the writer's last 10,000 items
    n = max(1, int(args.rate * args.seconds))
    t0 = time.time() + 1.0
    records = [engine_record(i, t0 + i / args.rate, rng, pool) for i in range(n)]
    # The spool is written and read in order, so items committed tell records committed.
    cum = list(itertools.accumulate(items_of(r) for r in records))
    stop, reads = asyncio.Event(), []
    run = asyncio.create_task(writer.run())
    reader = asyncio.create_task(wallboard(engine, stop, reads))
    await asyncio.sleep(max(0.0, t0 - time.time()))

    cpu0, wall0 = time.process_time(), time.perf_counter()
    submit_cpu = submit_thread = 0.0
    sent = backlog = backlog_bytes = 0
    steady: tuple[float, int] | None = None
    while sent < n:
        now = time.perf_counter() - wall0
        due = min(n, int(now * args.rate) + 1)
        if due > sent:
            c0, h0 = time.process_time(), time.thread_time()
            for r in records[sent:due]:
                writer.submit_call(r)
            submit_cpu += time.process_time() - c0
            submit_thread += time.thread_time() - h0
            sent = due
        if steady is None and now >= 1.0:
            steady = (now, bisect.bisect_right(cum, writer.written))
        backlog, backlog_bytes = max(backlog, writer.pending), max(backlog_bytes, spool.backlog_bytes)
        await asyncio.sleep(0.005)
    window = time.perf_counter() - wall0
    done_in_window = bisect.bisect_right(cum, writer.written)
    deadline = time.perf_counter() + 120
    while writer.pending and time.perf_counter() < deadline:
        backlog, backlog_bytes = max(backlog, writer.pending), max(backlog_bytes, spool.backlog_bytes)
        await asyncio.sleep(0.01)
    drained = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    stop.set()
    await reader
    run.cancel()
    try:
        await run
    except asyncio.CancelledError:
        pass
    left = writer.pending
    spool.close()
    t_s, c_s = steady if steady and window > steady[0] else (0.0, 0)
    return {
        "target_rate": args.rate, "seconds": round(window, 2), "records": n,
        "committed_rate": round((done_in_window - c_s) / (window - t_s), 1),
        "committed_in_window": done_in_window, "drained_after_s": round(drained - window, 2),
        "left_in_spool": left, "items_written": writer.written,
        "lag_p50_s": round(pct(writer.lag_s, 0.50), 3), "lag_p99_s": round(pct(writer.lag_s, 0.99), 3),
        "lag_max_s": round(max(writer.lag_s), 3),
        "engine_cpu_us": round(submit_cpu / n * 1e6, 1), "engine_thread_cpu_us": round(submit_thread / n * 1e6, 1),
        "engine_cpu_alone_us": round(alone * 1e6, 1), "process_cpu_us": round(cpu / n * 1e6, 1),
        "backlog_max_items": backlog, "backlog_max_bytes": backlog_bytes,
        "reads": len(reads), "read_p50_ms": round(pct(reads, 0.50) * 1e3, 2),
        "read_p99_ms": round(pct(reads, 0.99) * 1e3, 2),
    }


# -- the month --------------------------------------------------------------------------------------

class Month:
    """Synthetic November: drawn in chunks so a million and a half rows never sit in memory at once."""

    def __init__(self, seed: int, agents: int):
        self.rng = random.Random(seed + 1)
        self.pool = agent_pool(agents)
        self.centers = list(CENTERS)
        self.center_w = list(itertools.accumulate(WEIGHT[c] for c in CENTERS))
        self.slots, weights = [], []
        for day in range(int((MONTH_HI - MONTH_LO) // 86400)):
            date = dt.date(2026, 11, 1) + dt.timedelta(days=day)
            factor = WEEKEND if date.weekday() >= 5 else 1.0
            for hour in range(24):
                self.slots.append(MONTH_LO + day * 86400 + hour * 3600)
                weights.append(HOURLY[hour] * factor)
        self.slot_w = list(itertools.accumulate(weights))

    def chunk(self, first: int, count: int) -> tuple[list[dict], list[dict], list[dict]]:
        rng = self.rng
        slots = rng.choices(self.slots, cum_weights=self.slot_w, k=count)
        centers = rng.choices(self.centers, cum_weights=self.center_w, k=count)
        calls, surveys, callbacks = [], [], []
        for i, (slot, center) in enumerate(zip(slots, centers), first):
            call = self.call(f"m{i:08d}", slot + rng.random() * 3600, center)
            calls.append(call)
            if call["outcome"] == "answered":
                self.survey(call, surveys)
            elif call["abandoned_in"] == "queue":
                back = self.callback(call, callbacks)
                if back is not None:
                    calls.append(back)
        return calls, surveys, callbacks

    def call(self, call_id: str, start: float, center: str, *, kind: str = "inbound") -> dict:
        rng = self.rng
        answered = start + 0.4
        row = {"call_id": call_id, "kind": kind, "started_at": start, "answered_at": answered, "queued_at": None,
               "agent_answered_at": None, "ended_at": None, "dialled": "12345", "caller": caller(rng),
               "center": center, "queue": center, "agent_id": "", "flow": center, "flow_version": "bench01",
               "flow_path": f"{center}:welcome>{center}:menu", "keys": "1", "outcome": "answered",
               "reason": "program finished", "abandoned_in": "", "out_of_remit": False, "wait_s": None,
               "to_person_s": None, "talk_s": 0.0, "wrapup_s": 0.0, "transfers": 0, "transfer_to": "",
               "recording_path": "", "recording_s": 0.0, "disposition": "", "survey_grade": None,
               "callback_of": "", "node": "node-a" if rng.random() < 0.5 else "node-b", "written_at": 0.0}
        u = rng.random()
        if u < 0.88 or kind == "callback":
            queued = answered + 2 + rng.expovariate(1 / 5)
            wait = min(rng.expovariate(1 / 7), 900.0)
            picked = queued + wait
            talk = 40 + rng.expovariate(1 / 160)
            row.update(queued_at=queued, agent_answered_at=picked, ended_at=picked + talk,
                       agent_id=rng.choice(self.pool[center]), wait_s=round(wait, 3),
                       to_person_s=round(picked - answered, 3), talk_s=round(talk, 3), wrapup_s=10.0,
                       recording_path=f"/var/spool/recordings/{call_id}.wav", recording_s=round(talk, 3),
                       disposition=rng.choice(DISPOSITIONS), flow_path=row["flow_path"] + f">{center}:to_agent")
            if rng.random() < 0.03:
                row.update(transfers=1, transfer_to=rng.choice(TRANSFER_LINES))
        elif u < 0.96:
            row.update(outcome="abandoned", reason="caller hung up")
            if u < 0.91:
                row.update(abandoned_in="ivr", ended_at=answered + 3 + rng.random() * 40)
            else:
                queued = answered + 2 + rng.expovariate(1 / 5)
                row.update(abandoned_in="queue", queued_at=queued,
                           ended_at=queued + min(rng.expovariate(1 / 35), 900.0))
        elif u < 0.99:
            row.update(outcome="completed", out_of_remit=True, ended_at=answered + 20 + rng.random() * 25,
                       flow_path=row["flow_path"] + f">{rows.OUT_OF_REMIT_FLOW}:explain")
        elif u < 0.995:
            row.update(outcome="transferred", transfers=1, transfer_to=rng.choice(TRANSFER_LINES[:3]),
                       ended_at=answered + 15 + rng.random() * 10)
        else:
            row.update(outcome="failed", reason="channel gone", ended_at=start + 1.0)
        row["written_at"] = row["ended_at"] + 0.2
        return row

    def survey(self, call: dict, into: list[dict]) -> None:
        r = self.rng.random()
        if r >= 0.75:
            return
        grade = weighted(self.rng, GRADE_WEIGHTS) if r < 0.60 else None
        call["survey_grade"] = grade
        call["flow_path"] += ">survey:rate"
        into.append({"call_id": call["call_id"], "at": call["ended_at"], "center": call["center"],
                     "queue": call["queue"], "agent_id": call["agent_id"], "grade": grade,
                     "label": rows.LABELS[grade] if grade else ""})

    def callback(self, missed: dict, into: list[dict]) -> dict | None:
        """The missed caller rung back; the call that reached them is a row of its own (kind callback)."""
        rng = self.rng
        created = missed["ended_at"] + 1.0
        reached = rng.random() < 0.85
        ended = created + 60 + rng.expovariate(1 / 700) if reached else created + 3 * 900
        into.append({"callback_id": f"cb-{missed['call_id']}", "missed_call_id": missed["call_id"],
                     "caller": missed["caller"], "queue": missed["queue"], "created_at": created,
                     "deadline_at": created + 1800, "attempts": (1 if rng.random() < 0.7 else 2) if reached else 3,
                     "outcome": "answered" if reached else "failed", "ended_at": ended})
        if not reached:
            return None
        back = self.call(f"cb{missed['call_id']}", ended - 8, missed["center"], kind="callback")
        back.update(caller=missed["caller"], dialled=missed["caller"], callback_of=missed["call_id"])
        return back

    def agent_states(self) -> list[dict]:
        """One change of state an hour through each shift, 8 hours a day on about 22 days in 30."""
        rng, out = self.rng, []
        days = int((MONTH_HI - MONTH_LO) // 86400)
        for agent in (a for seats in self.pool.values() for a in seats):
            shift = weighted(rng, ((8, 0.7), (16, 0.25), (0, 0.05)))
            n = 0
            for day in range(days):
                if rng.random() < 0.27:
                    continue
                t = MONTH_LO + day * 86400 + shift * 3600 + rng.random() * 300
                events = [(t, "available", "")]
                for hour in range(1, 8):
                    state = weighted(rng, STATE_WEIGHTS)
                    events.append((t + hour * 3600 + rng.random() * 600, state, "break" if state == "paused" else ""))
                events.append((t + 8 * 3600 + rng.random() * 300, "logged_out", "shift end"))
                for at, state, why in events:
                    n += 1
                    if n > 1:
                        out[-1]["until"] = at      # what the writer's close_states fills in live
                    out.append({"event_id": f"{agent}-{n}", "agent_id": agent, "state": state, "reason": why,
                                "call_id": "", "at": at, "until": None, "node": "node-a"})
        return out


async def insert_rows(engine, table, batch: list[dict]) -> None:
    if batch:
        async with engine.begin() as conn:
            await conn.execute(insert(table), batch)


async def load_month(engine, total: int, args) -> dict:
    month = Month(args.seed, args.agents)
    gen_s = ins_s = 0.0
    counts = {"calls": 0, "inbound": 0, "surveys": 0, "callbacks": 0, "agent_states": 0}
    for first in range(0, total, args.chunk):
        t0 = time.perf_counter()
        calls, surveys, callbacks = month.chunk(first, min(args.chunk, total - first))
        t1 = time.perf_counter()
        async with engine.begin() as conn:     # one transaction per chunk, executemany per table
            await conn.execute(insert(schema.calls), calls)
            if surveys:
                await conn.execute(insert(schema.surveys), surveys)
            if callbacks:
                await conn.execute(insert(schema.callbacks), callbacks)
        t2 = time.perf_counter()
        gen_s, ins_s = gen_s + t1 - t0, ins_s + t2 - t1
        counts["calls"] += len(calls)
        done = first + min(args.chunk, total - first)
        counts["inbound"] += sum(1 for c in calls if c["kind"] == "inbound")
        counts["surveys"] += len(surveys)
        counts["callbacks"] += len(callbacks)
        if args.progress:
            print(f"  .. {done:,} calls, gen {gen_s:.1f} s, insert {ins_s:.1f} s", file=sys.stderr)
    t0 = time.perf_counter()
    states = month.agent_states()
    t1 = time.perf_counter()
    for i in range(0, len(states), args.chunk):
        await insert_rows(engine, schema.agent_states, states[i:i + args.chunk])
    t2 = time.perf_counter()
    gen_s, ins_s = gen_s + t1 - t0, ins_s + t2 - t1
    counts["agent_states"] = len(states)
    analyze_s = 0.0
    if engine.dialect.name == "postgresql":
        t0 = time.perf_counter()
        async with engine.begin() as conn:
            await conn.execute(text("ANALYZE"))
        analyze_s = time.perf_counter() - t0
    rows_total = counts["calls"] + counts["surveys"] + counts["callbacks"] + counts["agent_states"]
    return {**counts, "agents": sum(len(v) for v in month.pool.values()), "generate_s": round(gen_s, 2),
            "insert_s": round(ins_s, 2), "rows_per_s": round(rows_total / ins_s) if ins_s else None,
            "analyze_s": round(analyze_s, 2)}


def run_report(url: str, *extra: str) -> dict:
    """One ``acd report`` as a person runs it; a failure is reported, not raised (the command may be new)."""
    t0 = time.perf_counter()
    proc = subprocess.run([str(ACD), "--db", url, *REPORT_ARGS, *extra], capture_output=True, text=True, check=False,
                          cwd=ROOT, timeout=900)
    took = time.perf_counter() - t0
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return {"ok": False, "s": round(took, 3), "error": last}
    out = {"ok": True, "s": round(took, 3)}
    try:
        data = json.loads(proc.stdout)
        out["offered"] = (data.get("total") or {}).get("offered") if "total" in data else \
            sum(r.get("offered", 0) for r in data.get("gbt", []))
    except (ValueError, AttributeError):
        out["offered"] = None
    return out


def startup_s() -> float:
    t0 = time.perf_counter()
    subprocess.run([str(ACD), "check"], capture_output=True, cwd=ROOT, timeout=120, check=False)
    return round(time.perf_counter() - t0, 3)


async def month_report(engine, url: str, args) -> dict:
    out = {"load": await load_month(engine, args.month_calls, args)}
    await engine.dispose()          # the report is another process; leave it the database to itself
    out["startup_s"] = startup_s()
    for name, extra in (("day", ()), ("gbt", ("--gbt",))):
        runs = [run_report(url, *extra) for _ in range(args.repeat)]
        out[name] = {"runs_s": [r["s"] for r in runs], "best_s": min(r["s"] for r in runs),
                     "ok": all(r["ok"] for r in runs), "offered": runs[-1].get("offered"),
                     "error": next((r["error"] for r in runs if not r["ok"]), None)}
    return out


# -- databases --------------------------------------------------------------------------------------

async def make_db(kind: str, work: pathlib.Path) -> tuple[str, str]:
    if kind == "sqlite":
        return f"sqlite:///{work / 'records.db'}", ""
    import asyncpg

    name = f"bench_records_{os.getpid()}"
    conn = await asyncpg.connect(**PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return f"postgresql://{PG_ADMIN['user']}@{PG_ADMIN['host']}:{PG_ADMIN['port']}/{name}", name


async def drop_db(name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(**PG_ADMIN)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def bench_db(kind: str, args) -> dict:
    work = pathlib.Path(tempfile.mkdtemp(prefix=f"bench_records_{kind}_"))
    url, pg_name = await make_db(kind, work)
    engine = open_engine(url)
    out: dict = {"db": kind}
    try:
        await migrate.upgrade(engine)
        if not args.skip_write:
            print(f"{kind}: write path, {args.rate:g} rec/s for {args.seconds:g} s ...", file=sys.stderr)
            out["write"] = await write_path(engine, work, args)
        if not args.skip_month:
            print(f"{kind}: month of {args.month_calls:,} calls ...", file=sys.stderr)
            out["month"] = await month_report(engine, url, args)
            if kind == "postgresql":
                out["month"]["goal"] = verdict(out["month"])
    finally:
        await engine.dispose()
        if pg_name:
            await drop_db(pg_name)
        shutil.rmtree(work, ignore_errors=True)
    return out


# -- output -----------------------------------------------------------------------------------------

def block(res: dict) -> str:
    kind, lines = res["db"], []
    w = res.get("write")
    if w:
        lines.append(f"{kind}: write {w['committed_rate']:.1f} rec/s (target {w['target_rate']:g}, {w['records']:,} "
                     f"records in {w['seconds']:.1f} s, drained {w['drained_after_s']:.2f} s after), lag p50 "
                     f"{w['lag_p50_s']:.3f} s p99 {w['lag_p99_s']:.3f} s max {w['lag_max_s']:.3f} s, engine CPU "
                     f"{w['engine_cpu_us']:.0f} µs/rec (its thread {w['engine_thread_cpu_us']:.0f}, with nothing else running "
                     f"{w['engine_cpu_alone_us']:.0f}), process CPU "
                     f"{w['process_cpu_us']:.0f} µs/rec, spool backlog max {w['backlog_max_items']:,} items "
                     f"({w['backlog_max_bytes'] / 1024:.0f} KiB), wallboard read p50 {w['read_p50_ms']:.1f} ms "
                     f"p99 {w['read_p99_ms']:.1f} ms ({w['reads']} reads)")
    m = res.get("month")
    if m:
        ld = m["load"]
        lines.append(f"{kind}: month load {ld['inbound']:,} inbound calls ({ld['calls']:,} rows with callbacks), "
                     f"{ld['surveys']:,} surveys, {ld['callbacks']:,} callbacks, {ld['agent_states']:,} agent states "
                     f"({ld['agents']} agents): generate {ld['generate_s']:.1f} s, insert {ld['insert_s']:.1f} s "
                     f"({ld['rows_per_s']:,} rows/s)" + (f", ANALYZE {ld['analyze_s']:.1f} s" if ld["analyze_s"] else ""))
        parts = []
        for name, label in (("day", "--by day"), ("gbt", "--gbt")):
            r = m[name]
            if r["ok"]:
                check = "" if r["offered"] in (None, ld["inbound"]) else f" (offered {r['offered']:,}!)"
                parts.append(f"{label} {r['best_s']:.2f} s (runs {', '.join(f'{s:.2f}' for s in r['runs_s'])}){check}")
            else:
                parts.append(f"{label} FAILED: {r['error']}")
        line = f"{kind}: report month ({ld['inbound']:,} calls) " + "; ".join(parts) + \
            f"; command start-up alone {m['startup_s']:.2f} s"
        if kind == "postgresql":
            line += f"; goal under {GOAL_S:g} s on PostgreSQL: {verdict(m)}"
        lines.append(line)
    return "\n".join(lines)


def verdict(month: dict) -> str:
    """Every run counts: a person runs the report once, often on a cold cache."""
    if not (month["day"]["ok"] and month["gbt"]["ok"]):
        return "not measured (the report failed)"
    runs = month["day"]["runs_s"] + month["gbt"]["runs_s"]
    if max(runs) < GOAL_S:
        return "met"
    best = max(month["day"]["best_s"], month["gbt"]["best_s"])
    return "met only on a repeated run" if best < GOAL_S else "NOT met"


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench_records.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    p.add_argument("--rate", type=float, default=200.0, help="call records a second handed to the writer")
    p.add_argument("--seconds", type=float, help="length of the write run (default 30; --quick 5)")
    p.add_argument("--batch", type=int, default=BATCH, help="writer batch, items (default %(default)s)")
    p.add_argument("--flush-s", type=float, default=FLUSH_S, help="writer idle wake-up (default %(default)s)")
    p.add_argument("--month-calls", type=int, help="inbound calls in November (default 1,500,000; --quick 100,000)")
    p.add_argument("--agents", type=int, default=400, help="agents across the province (default %(default)s)")
    p.add_argument("--chunk", type=int, default=25_000, help="rows per insert transaction (default %(default)s)")
    p.add_argument("--repeat", type=int, default=2, help="runs of each report (default %(default)s)")
    p.add_argument("--seed", type=int, default=12345)
    p.add_argument("--skip-write", action="store_true", help="only the month report")
    p.add_argument("--skip-month", action="store_true", help="only the write path")
    p.add_argument("--quick", action="store_true", help="5 s of writing, 100,000 calls")
    p.add_argument("--progress", action="store_true", help="print the month load's progress to stderr")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = p.parse_args(argv)
    a.seconds = a.seconds or (5.0 if a.quick else 30.0)
    a.month_calls = a.month_calls or (100_000 if a.quick else 1_500_000)
    for flag in ("rate", "seconds", "batch", "flush_s", "month_calls", "agents", "chunk", "repeat"):
        if getattr(a, flag) <= 0:
            p.error(f"--{flag.replace('_', '-')} must be positive")
    return a


async def run(args) -> list[dict]:
    kinds = ("sqlite", "postgresql") if args.db == "both" else (args.db,)
    return [await bench_db(kind, args) for kind in kinds]


def main(argv: list[str] | None = None) -> int:
    from hotline import log

    args = parse(argv)
    log.setup("warning")
    results = asyncio.run(run(args))
    if args.json:
        print(json.dumps(results, ensure_ascii=False, indent=1))
    else:
        print("\n".join(block(r) for r in results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
