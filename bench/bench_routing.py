"""Routing speed and memory of the ACD: 1,000 agents, 5,000 waiting calls.

Prints figures, asserts nothing.  Three measurements:

1. ``match()`` alone (the plain routing function), one free agent per round and
   all agents free at once;
2. the full path per decision, as it runs live: an agent's call ends, a routing
   round reads a snapshot, decides and claims, the agent answers, a new caller
   joins so 5,000 keep waiting; in memory and through Redis;
3. batch rounds through Redis: k agents free at once, one snapshot + one claim
   script per round (decisions per second rise with k);
4. memory per waiting call (tracemalloc in memory; INFO used_memory in Redis);
5. through Sentinel (bench/sentinel_rig.py: a private master, a replica, three
   Sentinels): the full path per decision as in 2, then a failover under load: two
   nodes serving callers, the master killed with SIGKILL (its replication cut
   ``--cut-s`` before, so its last writes are lost and reconciled), and the time from
   the kill to the first claim on the new master, and the callers who waited longer
   than 15 s.

Redis: by default a private redis-server on a free port (so used_memory is ours
alone); ``--redis HOST:PORT`` uses an existing server under a throwaway prefix.
Every prefix carries a hash tag (``{bench:...}:``), as the store requires.

    /work/.venv/bin/python bench/bench_routing.py [--agents 1000] [--calls 5000] [--seconds 3]
        [--no-sentinel] [--down-after-ms 1000] [--cut-s 0.5] [--failover-calls-s 30]
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
import tempfile
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
    cfg = config_mod.parse(f"skills: [zh, ko, enterprise, expert]\ndefaults: {{wrapup_s: 0}}\nqueues:\n{queues_yaml}\n",
                           "bench")
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
    return int((await store.redis.info("memory"))["used_memory"])     # redis-py parses INFO


def bench_prefix() -> str:
    return f"{{bench:{uuid.uuid4().hex[:8]}}}:"


# -- 5. through Sentinel, and a failover ------------------------------------------------------

FAILOVER_CFG = """
offer_grace_s: 5
defaults: {{ring_timeout_s: 15, max_misses: 5, wrapup_s: 0, max_waiting: 10000}}
callbacks: {{enabled: false}}
queues: [{{id: q}}]
agents:
{agents}
"""


async def failover_figure(rig, *, n_agents: int, rate: float, talk_s: float, seconds: float, kill_at: float,
                          cut_s: float) -> None:
    """Two nodes with production settings serve callers (Poisson arrivals, exponential talks);
    at ``kill_at`` the master dies.  Prints the recovery and the callers who waited > 15 s."""
    from acd.model import CallRequest
    from acd.redis_store import RedisStore
    from acd.service import Acd

    agents = "\n".join(f"  - {{id: f{i:03d}, center: q, dial: PJSIP/f{i:03d}, skills: {{zh: 3}}}}"
                       for i in range(n_agents))
    cfg = config_mod.parse(FAILOVER_CFG.format(agents=agents), "failover.yaml")
    prefix = bench_prefix()
    nodes = []
    rng = random.Random(99)
    loop = asyncio.get_running_loop()
    waits: list[tuple[float, float]] = []        # (arrival since start, wait) of each served caller
    figures: dict[str, float] = {}
    try:
        for i in range(2):
            store = await RedisStore.connect(sentinels=rig.sentinels, service_name=rig.service, prefix=prefix,
                                             poolsize=4)
            node = Acd(store, cfg, f"bench{i}")           # the production intervals and windows
            await node.start()
            nodes.append(node)
        for i, agent in enumerate(cfg.agents):
            await nodes[i % 2].login(agent.id)
        t0 = loop.time()

        async def caller(i: int, at: float) -> None:
            await asyncio.sleep(at)
            node, cid = nodes[i % 2], f"f{i}"
            arrived = loop.time()
            await node.enqueue(CallRequest(cid, "q", ["zh"], caller="13900000000"))
            while True:
                offer = await asyncio.wait_for(node.wait_offer(cid), 300)
                await asyncio.sleep(0.2)                  # the agent's phone rings
                if rng.random() < 0.05:
                    await node.ring_result(cid, offer.agent_id, "NOANSWER")
                    continue
                if await node.ring_result(cid, offer.agent_id, "ANSWER") != "connected":
                    continue
                waits.append((arrived - t0, loop.time() - arrived))
                talk = rng.expovariate(1 / talk_s)
                await asyncio.sleep(talk)
                await node.call_ended(cid, offer.agent_id, talk)
                return

        async def kill() -> None:
            await asyncio.sleep(kill_at - cut_s)
            cut = await rig.cut_replication() if cut_s > 0 else None
            await asyncio.sleep(cut_s)
            last = await rig.master_offset()
            killed = rig.kill_master()
            # what the replica got of the dead master's stream (it is promoted a second later at the soonest)
            got = cut if cut is not None else await rig.replica_offset(rig.replica_ports[0])
            figures["lost_bytes"] = max(0, last - got)
            while True:        # the first claim the new master made (none before down-after-ms)
                since, count = time.monotonic() - killed, sum(n.dispatched for n in nodes)
                if since < 0.5:
                    before = count
                elif count > before:
                    break
                await asyncio.sleep(0.005)
            figures["recovery_s"] = since

        async def promotion_time() -> None:
            while rig.killed_at is None:
                await asyncio.sleep(0.005)
            await rig.wait_failover(60)
            figures["promoted_s"] = time.monotonic() - rig.killed_at

        arrivals, at = [], rng.expovariate(rate)
        while at < seconds:
            arrivals.append(at)
            at += rng.expovariate(rate)
        await asyncio.wait_for(asyncio.gather(kill(), promotion_time(), *(caller(i, a) for i, a in enumerate(arrivals))),
                               seconds + 300)
        late = [(a, w) for a, w in waits if w > 15.0]
        before_kill = [w for a, w in waits if a + w < kill_at]
        print(f"sentinel: failover under load ({n_agents} agents, {rate:g} callers/s, talks of {talk_s:g} s on "
              f"average, 2 nodes with the production settings, down-after-milliseconds {rig.down_after_ms}, "
              f"replication cut {cut_s:g} s before the kill): master killed -> first claim on the new master "
              f"{figures['recovery_s']:.2f} s (Sentinel's promotion {figures['promoted_s']:.2f} s, then the nodes' "
              f"reconnect and recovery_window_s hold); {figures['lost_bytes']} bytes of writes lost, "
              f"{sum(n.reconciled for n in nodes)} calls reconciled; {len(waits)} callers served, "
              f"{len(late)} waited longer than 15 s (longest {max(w for _, w in waits):.1f} s; before the kill "
              f"longest {max(before_kill, default=0):.1f} s)")
    finally:
        for node in nodes:
            await node.stop(flush_s=1.0)


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
    parser.add_argument("--no-sentinel", action="store_true", help="skip the Sentinel figures")
    parser.add_argument("--down-after-ms", type=int, default=1000, help="Sentinel's down-after-milliseconds")
    parser.add_argument("--cut-s", type=float, default=0.5,
                        help="cut the master's replication this long before killing it (0: a plain kill)")
    parser.add_argument("--failover-calls-s", type=float, default=30.0, help="how long callers arrive in the failover run")
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
            return await RedisStore.connect(host, port, prefix=bench_prefix(), poolsize=2)

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
    if not args.no_sentinel:
        from sentinel_rig import SentinelRig

        with tempfile.TemporaryDirectory(prefix="bench-sentinel-") as workdir:
            rig = SentinelRig(workdir, down_after_ms=args.down_after_ms)
            try:
                await rig.start()
                store = await RedisStore.connect(sentinels=rig.sentinels, service_name=rig.service,
                                                 prefix=bench_prefix(), poolsize=2)
                await full_path(store, cfg, args.seconds, rng, "sentinel", args.calls)
                await close(store)
                await failover_figure(rig, n_agents=30, rate=6.0, talk_s=3.0, seconds=args.failover_calls_s,
                                      kill_at=args.failover_calls_s * 0.4, cut_s=args.cut_s)
            finally:
                rig.stop()
    return 0


async def _mem():
    return MemoryStore()


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
