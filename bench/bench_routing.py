"""Routing speed and memory of the ACD: 1,000 agents, 5,000 waiting calls.

Prints figures, asserts nothing.  Three measurements:

1. ``match()`` alone (the plain routing function), one free agent per round and
   all agents free at once;
2. the full path per decision, as it runs live: an agent's call ends, a routing
   round reads a snapshot, decides and claims, the agent answers, a new caller
   joins so 5,000 keep waiting; in memory and through Redis;
3. batch rounds through Redis: k agents free at once, one snapshot + one claim
   script per round (decisions per second rise with k);
4. memory per waiting call (tracemalloc in memory; INFO used_memory in Redis).

Redis: by default a private redis-server on a free port (so used_memory is ours
alone); ``--redis HOST:PORT`` uses an existing server under a throwaway prefix.

    /work/.venv/bin/python bench/bench_routing.py [--agents 1000] [--calls 5000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import random
import shutil
import socket
import subprocess
import sys
import time
import tracemalloc
import uuid

from acd import config as config_mod
from acd import routing
from acd.model import Agent, Call
from acd.store import MemoryStore

CENTERS = config_mod.CENTERS
WEIGHTS = [10, 40, 15, 9, 8, 6, 7, 5, 10, 5, 3, 1]   # rough share of seats per center


def hotline(n_agents: int, rng: random.Random):
    queues_yaml = "\n".join(
        f"  - {{id: {c}, escalation: [{{after_s: 20, drop_skills: ['*']}}, {{after_s: 40, overflow: [province]}}]}}"
        if c != "province" else "  - {id: province, routing: skill_level, escalation: [{after_s: 20, drop_skills: [expert]}]}"
        for c in CENTERS)
    cfg = config_mod.parse(f"defaults: {{wrapup_s: 0}}\nqueues:\n{queues_yaml}\n", "bench")
    agents = []
    for i in range(n_agents):
        center = rng.choices(CENTERS, WEIGHTS)[0]
        skills = {"zh": rng.randint(1, 5)}
        if center == "yanbian" and rng.random() < 0.6:
            skills["ko"] = rng.randint(2, 5)
        if rng.random() < 0.15:
            skills["enterprise"] = rng.randint(1, 5)
        if center == "province" and rng.random() < 0.2:
            skills["expert"] = rng.randint(3, 5)
        queues = [center] + (["province"] if center == "changchun" and rng.random() < 0.2 else [])
        agents.append(Agent(id=f"s{i:04d}", dial=f"Local/{10000 + i}@agents", center=center, queues=queues, skills=skills))
    cfg.agents = agents
    return cfg


def new_call(i: int, rng: random.Random, now: float) -> Call:
    center = rng.choices(CENTERS, WEIGHTS)[0]
    skills = ["zh"]
    r = rng.random()
    if center == "yanbian" and r < 0.3:
        skills = ["ko"]
    elif r < 0.1:
        skills = ["enterprise"]
    elif center == "province" and r < 0.15:
        skills = ["expert"]
    return Call(call_id=f"k{i}", queue=center, skills=skills, priority=1 if rng.random() < 0.02 else 0,
                enqueued_at=now - rng.random() * 30, caller="13900000000")


# -- 1. the plain function -----------------------------------------------------------------

def bench_match(cfg, n_calls: int, seconds: float, rng) -> None:
    now = 1_790_000_000.0
    calls = [new_call(i, rng, now) for i in range(n_calls)]
    agents = [Agent.from_dict({**a.to_dict(), "state": "available", "idle_since": now - rng.random() * 600})
              for a in cfg.agents]
    by_queue: dict[str, list[Call]] = {}
    for c in routing.order_calls(calls):
        by_queue.setdefault(c.queue, []).append(c)
    # one agent free, each queue's head as the store hands it over (snapshot_depth = 8)
    heads = [c for q in by_queue.values() for c in q[:8]]
    n = made = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while time.perf_counter() - t0 < seconds:
        agent = agents[n % len(agents)]
        made += len(routing.match(heads, [agent], cfg.queues, now))
        n += 1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"match(), 1 agent free, {len(heads)} head calls of {n_calls}: {made / dt:,.0f} decisions/s wall, "
          f"{made / cpu:,.0f} per CPU-second")
    # every agent free at once against every waiting call
    t0, c0 = time.perf_counter(), time.process_time()
    rounds = made = 0
    while time.perf_counter() - t0 < seconds:
        made += len(routing.match(calls, agents, cfg.queues, now))
        rounds += 1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    print(f"match(), {len(agents)} agents free x {n_calls} calls in one round: {made / dt:,.0f} decisions/s wall, "
          f"{made / cpu:,.0f} per CPU-second ({dt / rounds * 1000:.1f} ms a round, {made // rounds} placed)")


# -- 2. and 3. the full path -------------------------------------------------------------------

async def fill(store, cfg, n_calls: int, rng, now: float) -> None:
    await store.sync_agents(cfg.agents, now)
    for i in range(n_calls):
        await store.enqueue(new_call(i, rng, now))


async def full_path(store, cfg, seconds: float, rng, label: str, n_calls: int) -> None:
    """One decision per agent that comes free, as in steady operation."""
    from acd.service import Acd

    clock_now = [1_790_000_000.0]
    acd = Acd(store, cfg, "bench", clock=lambda: clock_now[0])
    await fill(store, cfg, n_calls, rng, clock_now[0])
    # every agent on a call, as when 5,000 wait
    for a in cfg.agents:
        await store.agent_action(a.id, "login", "", clock_now[0])
    placed = []
    while True:
        made = await acd.dispatch_once()
        if not made:
            break
        for o in made:
            await store.ring_result(o.call_id, o.agent_id, "ANSWER", clock_now[0], 3)
            placed.append(o)
    busy = [(o.call_id, o.agent_id) for o in placed]
    next_id = n_calls
    for _ in range(len(placed)):
        await store.enqueue(new_call(next_id, rng, clock_now[0]))
        next_id += 1
    decisions = 0
    lat = []
    t0, c0 = time.perf_counter(), time.process_time()
    i = 0
    while time.perf_counter() - t0 < seconds:
        clock_now[0] += 0.01
        call_id, agent_id = busy[i % len(busy)]
        await store.call_ended(call_id, agent_id, 60, clock_now[0], 0)      # agent becomes free
        t1 = time.perf_counter()
        made = await acd.dispatch_once()                                   # snapshot, decide, claim
        lat.append(time.perf_counter() - t1)
        for o in made:
            await store.ring_result(o.call_id, o.agent_id, "ANSWER", clock_now[0], 3)
            busy[i % len(busy)] = (o.call_id, o.agent_id)
            decisions += 1
        await store.enqueue(new_call(next_id, rng, clock_now[0]))          # keep the queue full
        next_id += 1
        i += 1
    dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    lat.sort()
    waiting = sum(len(v) for v in (await store.waiting()).values())
    print(f"{label}: full path {decisions / dt:,.0f} decisions/s wall, {decisions / cpu:,.0f} per CPU-second of this "
          f"process (free -> snapshot -> match -> claim -> answer -> new caller); routing round (snapshot+match+claim) "
          f"p50 {lat[len(lat) // 2] * 1e6:,.0f} us, p99 {lat[int(len(lat) * 0.99)] * 1e6:,.0f} us; {waiting} waiting")


async def batch_rounds(make_store, cfg, n_calls: int, rng, label: str) -> None:
    from acd.service import Acd

    for k in (1, 10, 100, len(cfg.agents)):
        store = await make_store()
        now = [1_790_000_000.0]
        acd = Acd(store, cfg, "bench", clock=lambda: now[0], snapshot_limit=10_000)
        await fill(store, cfg, n_calls, rng, now[0])
        ids = [a.id for a in cfg.agents]
        per_round = []
        n_rounds = {1: 200, 10: 50, 100: 15}.get(k, 5)
        for _ in range(n_rounds):
            for aid in rng.sample(ids, k):
                await store.agent_action(aid, "login", "", now[0])
            t1 = time.perf_counter()
            made = await acd.dispatch_once()
            per_round.append((time.perf_counter() - t1, len(made)))
            for o in made:                                                # put them back for the next round
                await store.ring_result(o.call_id, o.agent_id, "ANSWER", now[0], 3)
                await store.call_ended(o.call_id, o.agent_id, 1, now[0], 0)
            for aid in ids:
                await store.agent_action(aid, "logout", "", now[0])
        spent = sum(t for t, _ in per_round)
        decisions = sum(n for _, n in per_round)
        median = sorted(t for t, _ in per_round)[len(per_round) // 2]
        print(f"{label}: {k:>4} agents free per round: {decisions / spent:,.0f} decisions/s "
              f"(round median {median * 1000:.2f} ms, mean {spent / len(per_round) * 1000:.2f} ms, "
              f"{decisions / len(per_round):.0f} placed a round)")
        await close(store)


async def close(store) -> None:
    if hasattr(store, "delete_all"):
        await store.delete_all()
    await store.close()


# -- 4. memory ------------------------------------------------------------------------------------

async def memory_per_call_inproc(n: int, rng) -> float:
    store = MemoryStore()
    calls = [new_call(i, rng, 1_790_000_000.0) for i in range(n)]
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    for c in calls:
        await store.enqueue(c)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n


async def redis_used_memory(store) -> int:
    info = await store._pool.info("memory")          # asyncio-redis leaves INFO unparsed
    data = info._data.decode() if isinstance(info._data, bytes) else str(info._data)
    for line in data.splitlines():
        if line.startswith("used_memory:"):
            return int(line.split(":", 1)[1])
    raise RuntimeError("INFO memory has no used_memory")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--calls", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--redis", metavar="HOST:PORT", help="existing Redis (default: a private redis-server)")
    args = parser.parse_args()
    from hotline import log
    log.setup("error")
    from acd.redis_store import RedisStore

    rng = random.Random(12345)
    cfg = hotline(args.agents, rng)
    import os
    print(f"{args.agents} agents over {len(CENTERS)} centers, {args.calls} waiting calls, Python {sys.version.split()[0]}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (figures are per process, on a shared machine)")
    bench_match(cfg, args.calls, args.seconds, rng)

    await full_path(MemoryStore(), cfg, args.seconds, rng, "memory", args.calls)
    await batch_rounds(lambda: _mem(), cfg, args.calls, rng, "memory")
    print(f"memory: {await memory_per_call_inproc(args.calls, rng):,.0f} bytes per waiting call (tracemalloc)")

    proc = None
    if args.redis:
        host, _, port = args.redis.rpartition(":")
        port = int(port)
    else:
        host, port = "127.0.0.1", free_port()
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
        proc = subprocess.Popen([server, "--port", str(port), "--bind", host, "--save", "", "--appendonly", "no"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            try:
                _, w = await asyncio.open_connection(host, port)
                w.close()
                break
            except OSError:
                await asyncio.sleep(0.05)
    try:
        async def make():
            return await RedisStore.connect(host, port, prefix=f"bench:{uuid.uuid4().hex[:8]}:", poolsize=2)

        store = await make()
        await full_path(store, cfg, args.seconds, rng, "redis ", args.calls)
        await close(store)
        await batch_rounds(make, cfg, args.calls, rng, "redis ")
        store = await make()
        before = await redis_used_memory(store)
        for i in range(args.calls):
            await store.enqueue(new_call(i, rng, 1_790_000_000.0))
        after = await redis_used_memory(store)
        print(f"redis : {(after - before) / args.calls:,.0f} bytes per waiting call (INFO used_memory"
              f"{'' if proc else ', shared server: approximate'})")
        await close(store)
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
    return 0


async def _mem():
    return MemoryStore()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
