"""What an ACD node costs when nothing happens: 404 agents logged in, no calls.

A hotline idles for most of the night, and an engine that burns CPU then competes with
Asterisk for the same cores.  Prints, for a node running its real loops (dispatch,
maintenance, statistics, the event feed) for ``--seconds``:

- the node's CPU per second (``time.process_time``, this process only);
- on Redis, the server's CPU per second and commands per second (``INFO``), from a private
  redis-server on a free port so nobody else's traffic is counted;
- the same node on the memory store, as the floor (no client, no server).

Asserts nothing.

    .venv/bin/python bench/bench_idle.py [--agents 404] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import subprocess
import time
import uuid

from acd import config as config_mod
from sentinel_rig import free_port
from acd.model import Agent
from acd.service import Acd
from acd.store import MemoryStore


def hotline(n_agents: int):
    centers = config_mod.CENTERS
    queues = "\n".join(f"  - {{id: {c}}}" for c in centers)
    cfg = config_mod.parse(f"queues:\n{queues}\n", "bench-idle")
    cfg.agents = [Agent(id=f"s{i:04d}", dial=f"Local/{10000 + i}@agents", center=centers[i % len(centers)],
                        queues=[centers[i % len(centers)]], skills={"zh": 3}) for i in range(n_agents)]
    return cfg


async def idle(store, cfg, seconds: float, label: str, redis=None) -> None:
    node = Acd(store, cfg, f"idle-{label}")
    await node.start()
    for agent in cfg.agents:
        await node.login(agent.id)
    await asyncio.sleep(1.0)                  # let the first rounds and statistics pass
    before = await _server(redis) if redis else None
    cpu0, wall0 = time.process_time(), time.monotonic()
    await asyncio.sleep(seconds)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    after = await _server(redis) if redis else None
    await node.stop(flush_s=1.0)
    line = f"{label}: node {cpu / wall * 1000:.1f} ms CPU a second"
    if redis:
        line += (f"; redis-server {(after[0] - before[0]) / wall * 1000:.1f} ms CPU a second, "
                 f"{(after[1] - before[1] - 2) / wall:.1f} commands a second")
    print(line)


async def _server(client) -> tuple[float, int]:
    cpu = await client.info("cpu")
    stats = await client.info("stats")
    return cpu["used_cpu_sys"] + cpu["used_cpu_user"], stats["total_commands_processed"]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=404)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    from hotline import log
    log.setup("error")
    import redis.asyncio as aioredis

    from acd.redis_store import RedisStore

    cfg = hotline(args.agents)
    print(f"{args.agents} agents logged in, no calls, {args.seconds:g} s per store")
    await idle(MemoryStore(), cfg, args.seconds, "memory")
    port = free_port()
    server = shutil.which("redis-server") or "/usr/bin/redis-server"
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = aioredis.Redis(host="127.0.0.1", port=port)
    try:
        for _ in range(100):
            try:
                await client.ping()
                break
            except OSError:
                await asyncio.sleep(0.05)
        store = await RedisStore.connect("127.0.0.1", port, prefix=f"{{bench:{uuid.uuid4().hex[:8]}}}:")
        await idle(store, cfg, args.seconds, "redis ", client)
    finally:
        await client.aclose()
        proc.kill()
        proc.wait()
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
