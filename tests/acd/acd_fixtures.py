"""Helpers shared by the ACD tests (imported by name: tests/acd is on sys.path)."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import uuid

from acd import config as config_mod
from acd.service import Acd

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379

SMALL = """
service_level_s: 15
offer_grace_s: 5
skills: [zh, ko, enterprise, expert]
defaults: {ring_timeout_s: 10, max_misses: 2, wrapup_s: 5, aht_s: 100, max_waiting: 3, callback_offer_after_s: 250}
callbacks: {enabled: true, delay_s: 30, retry_s: 60, max_attempts: 2, priority: -1, originate_grace_s: 20}
queues:
  - id: province
    routing: skill_level
    escalation: [{after_s: 20, drop_skills: [expert]}, {after_s: 45, overflow: [changchun]}]
  - id: changchun
    escalation: [{after_s: 40, overflow: [province]}]
  - id: yanbian
    escalation: [{after_s: 30, drop_skills: [enterprise]}, {after_s: 60, overflow: [province]}]
agents:
  - {id: p1, center: province, dial: PJSIP/p1, skills: {zh: 3, expert: 2}}
  - {id: p2, center: province, dial: PJSIP/p2, skills: {zh: 3, expert: 5}}
  - {id: p3, center: province, dial: PJSIP/p3, skills: {zh: 3, ko: 4}}
  - {id: c1, center: changchun, dial: PJSIP/c1, skills: {zh: 4}}
  - {id: c2, center: changchun, dial: PJSIP/c2, skills: {zh: 4, enterprise: 3}}
  - {id: y1, center: yanbian, dial: PJSIP/y1, skills: {zh: 3, ko: 5}}
  - {id: y2, center: yanbian, dial: PJSIP/y2, skills: {zh: 4}}
"""


class Clock:
    def __init__(self, start: float = 1_790_000_000.0):
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def unique_prefix(tag: str = "t") -> str:
    """A prefix of this test alone, with the hash tag the store requires (one Cluster slot)."""
    return f"{{test:acd:{tag}:{uuid.uuid4().hex[:10]}}}:"


async def redis_store(prefix: str | None = None, port: int = REDIS_PORT, poolsize: int = 2, server_clock=None):
    """A store on the test Redis; ``server_clock`` plays Redis's clock (a fake Clock) where a test needs it."""
    from acd.redis_store import RedisStore

    return await RedisStore.connect(REDIS_HOST, port, prefix=prefix or unique_prefix(), poolsize=poolsize,
                                    server_clock=server_clock)


async def wipe(prefix: str, port: int = REDIS_PORT) -> None:
    from acd.redis_store import RedisStore

    s = await RedisStore.connect(REDIS_HOST, port, prefix=prefix, poolsize=1)
    await s.delete_all()
    await s.close()


def race_config(n_agents: int, ring_timeout: float = 5, grace: float = 1, callbacks: bool = True):
    agents = "\n".join(
        f"  - {{id: a{i}, center: {'changchun' if i % 3 else 'province'}, "
        f"queues: [{'changchun, province' if i % 5 == 0 else ('changchun' if i % 3 else 'province')}], "
        f"dial: Local/{2000 + i}@agents, skills: {{zh: {1 + i % 5}{', enterprise: 3' if i % 4 == 0 else ''}}}}}"
        for i in range(n_agents))
    return config_mod.parse(f"""
offer_grace_s: {grace}
defaults: {{ring_timeout_s: {ring_timeout}, max_misses: 1000, wrapup_s: 0, max_waiting: 100000}}
callbacks: {{enabled: {str(callbacks).lower()}, delay_s: 0.05, retry_s: 0.05, max_attempts: 3, originate_grace_s: 2}}
queues:
  - id: province
    escalation: [{{after_s: 0.2, drop_skills: ["*"]}}, {{after_s: 0.3, overflow: [changchun]}}]
  - id: changchun
    escalation: [{{after_s: 0.2, drop_skills: ["*"]}}, {{after_s: 0.3, overflow: [province]}}]
agents:
{agents}
""", "race.yaml")


def fast_node(store, cfg, name):
    return Acd(store, cfg, name, dispatch_interval_s=0.05, maintenance_interval_s=0.1, stats_interval_s=0.5)


class Ledger:
    """The engine's view: which agent is on which call right now.  Any overlap is a double assignment."""

    def __init__(self):
        self.busy: dict[str, str] = {}
        self.doubles: list[tuple] = []
        self.served: set[str] = set()
        self.abandoned: set[str] = set()
        self.callbacks_served: set[str] = set()
        self.calls_per_offer: dict[str, str] = {}

    def take(self, agent_id, call_id):
        if agent_id in self.busy:
            self.doubles.append((agent_id, self.busy[agent_id], call_id))
        self.busy[agent_id] = call_id

    def free(self, agent_id, call_id):
        assert self.busy.get(agent_id) == call_id
        del self.busy[agent_id]


REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def start_redis(port: int, *extra: str) -> subprocess.Popen:
    """A private redis-server (no persistence) that a test may stop without disturbing anyone."""
    proc = subprocess.Popen(
        [REDIS_SERVER, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", *extra],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            _, w = await asyncio.open_connection("127.0.0.1", port)
            w.close()
            return proc
        except OSError:
            await asyncio.sleep(0.05)
    proc.kill()
    raise RuntimeError(f"redis-server did not start on port {port}")


def stop_redis(proc: subprocess.Popen) -> None:
    proc.kill()
    proc.wait(5)


async def until(pred, timeout: float = 15.0, what: str = "", poll_s: float = 0.05):
    """Poll a condition (plain or awaitable) until it holds; the deadline keeps a broken test from hanging."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        value = pred()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        assert loop.time() < end, f"timed out waiting for {what}"
        await asyncio.sleep(poll_s)
