"""A whole hotline in one process: the built-in PBX, the engine, callers and agents.

The PBX listens on a loopback port and the engine reaches it through the same
AMI link ``ivr serve`` uses against a real Asterisk; nothing is short-circuited.
The PBX runs faster than real time (``speed``), so a few minutes of hotline
traffic fit in well under a minute; figures are reported in the PBX's seconds.
"""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from ivr.engine.records import CallRecord, tally
from ivr.pbx.config import PbxConfig
from ivr.pbx.core import Pbx
from ivr.pbx.scripts import AgentBehaviour, CallerScript, LoadProfile, exponential


@dataclass
class DemoOptions:
    calls: int = 100
    agents: int = 10
    speed: float = 40.0
    seed: int = 1
    talk_mean_s: float = 60.0          # the PBX's seconds
    patience_mean_s: float = 90.0      # callers on hold music give up after this, on average
    load: float = 0.6                  # offered load per agent (Erlangs per agent, talk + wrap-up)
    wrapup_s: float = 10.0             # the ACD's wrap-up after each call (config/acd.yaml)
    noanswer_agents: int = 1           # agents whose phone rings out (ring-timeout path)
    minimal: bool = False              # the smoke path instead of flows and ACD
    timeout_s: float = 120.0           # wall-clock guard for the whole run
    records_db: str | None = None      # where the call records go (default: var/demo-records.db)
    records_spool: str | None = None   # and where they wait for it (default: var/demo-spool)


@dataclass
class DemoRun:
    options: DemoOptions
    offered: int = 0
    records: list[CallRecord] = field(default_factory=list)
    pbx_records: list[Any] = field(default_factory=list)
    wall_s: float = 0.0
    engine_status: dict[str, Any] = field(default_factory=dict)
    link_status: dict[str, Any] = field(default_factory=dict)
    records_status: dict[str, Any] | None = None

    def summary(self) -> dict[str, Any]:
        out = tally(self.records, offered=self.offered, time_scale=self.options.speed)
        pbx_ended = sum(1 for r in self.pbx_records if r.end is not None)
        out.update({
            "pbx_calls": len(self.pbx_records),
            "pbx_calls_ended": pbx_ended,
            "agents": self.options.agents,
            "speed": self.options.speed,
            "wall_s": round(self.wall_s, 2),
            "program": "minimal" if self.options.minimal else "flows+acd",
            "engine_task_failures": self.engine_status.get("task_failures", 0),
            "ami_reconnects": self.link_status.get("reconnects", 0),
        })
        if self.records_status is not None:
            db = self.records_status["db"] or ""
            out["records_db"] = db.split(":///", 1)[1] if db.startswith("sqlite") else db   # the file, for SQLite
            out["records_written"] = self.records_status["written"]
            out["records_in_spool"] = self.records_status["backlog"]
        return out


#: Where the demo's agents sit: the centers its callers reach (Changchun and the
#: province share 12345; Jilin City and Yanbian by area code), Korean in Yanbian.
DEMO_SEATS = (("changchun", ("zh",)), ("province", ("zh",)), ("jilin", ("zh",)), ("yanbian", ("zh", "ko")),
              ("changchun", ("zh", "enterprise")), ("province", ("zh", "expert")))


#: What demo callers press at the first menu (see the shipped flows): mostly a center's
#: matters, some enterprise and tax matters (12366 sub-center), a few emergencies (110...)
#: and matters outside 12345's remit, and some who press nothing.
DEMO_KEYS = (("1", 0.35), ("2", 0.35), ("4", 0.08), ("3", 0.05), ("9", 0.04), ("8", 0.05), ("0", 0.08))


def agent_endpoints(n: int) -> list[str]:
    return [f"Local/{1001 + i}@agents" for i in range(n)]


def demo_agents(n: int):
    """``n`` ACD agents spread over the demo's centers, dialled at Local/NNNN@agents."""
    from acd.model import Agent

    agents = []
    for i, endpoint in enumerate(agent_endpoints(n)):
        center, skills = DEMO_SEATS[i % len(DEMO_SEATS)]
        agents.append(Agent(id=str(1001 + i), dial=endpoint, name=f"demo-{1001 + i}", center=center,
                            queues=[center], skills={s: 3 for s in skills}))
    return agents


def agent_behaviours(options: DemoOptions) -> dict[str, AgentBehaviour]:
    table = {}
    for i, endpoint in enumerate(agent_endpoints(options.agents)):
        if i < options.noanswer_agents and options.agents > options.noanswer_agents:
            table[endpoint] = AgentBehaviour(kind="noanswer")
        else:
            table[endpoint] = AgentBehaviour(kind="answer", answer_after_s=lambda rng: rng.uniform(1.0, 4.0),
                                             talk_s=exponential(options.talk_mean_s), ends="agent")
    return table


def caller_load(options: DemoOptions) -> list[tuple[float, CallerScript]]:
    serving = max(1, options.agents - options.noanswer_agents)
    rate = options.load * serving / (options.talk_mean_s + options.wrapup_s)
    profile = LoadProfile(rate_per_s=rate, calls=options.calls, seed=options.seed,
                          patience_mean_s=options.patience_mean_s,
                          key_choices=DEMO_KEYS)
    return profile.scripts()


async def run_demo(options: DemoOptions, *,
                   on_progress: Callable[[dict[str, int]], None] | None = None) -> DemoRun:
    """Run the demo and return what the engine and the PBX each recorded."""
    from ivr import settings as settings_mod
    from ivr.runtime import build_runtime

    secret = os.urandom(12).hex()
    acd_config, prompts = None, {}
    if not options.minimal:
        acd_config, prompts = _acd_and_prompts(options)
    pbx = Pbx(PbxConfig.load(speed=options.speed, seed=options.seed, secret=secret),
              agents=agent_behaviours(options))
    pbx.config.prompts.update(prompts)
    pbx.default_talk_s = exponential(options.talk_mean_s)   # outside lines a flow transfers to
    host, port = await pbx.start()
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port = host, port
    settings.ami.send_filters = True
    settings.ami.ping_interval_s = 2.0
    runtime = await build_runtime(settings, secret=secret, minimal=options.minimal, acd_store="memory",
                                  agents=agent_endpoints(options.agents), speed=options.speed,
                                  acd_config=acd_config, login_all=True, node="demo",
                                  records=not options.minimal)
    run = DemoRun(options)
    started = time.monotonic()
    try:
        await runtime.start()
        handles = []
        load = caller_load(options)
        t0 = time.monotonic()
        for offset, script in load:
            delay = offset / options.speed - (time.monotonic() - t0)
            if delay > 0:
                await asyncio.sleep(delay)
            handles.append(pbx.place_call(script))
            run.offered += 1
            if on_progress:
                on_progress(_progress(run, runtime.engine))
        deadline = started + options.timeout_s
        while True:
            done = sum(1 for h in handles if h.ended.done())
            if on_progress:
                on_progress(_progress(run, runtime.engine))
            if done == len(handles) and not runtime.engine.calls:
                break
            if time.monotonic() > deadline:
                break
            await asyncio.sleep(0.1)
    finally:
        await runtime.stop()
        run.records_status = runtime.records_status
        run.engine_status = runtime.engine.status()
        run.link_status = runtime.link.status
        await pbx.stop()
    run.wall_s = time.monotonic() - started
    run.records = list(runtime.engine.finished) + list(runtime.engine.records.values())
    run.pbx_records = list(pbx.records)
    if on_progress:
        on_progress(_progress(run, runtime.engine))
    return run


def _acd_and_prompts(options: DemoOptions):
    """The shipped ACD settings with the demo's agents, and the shipped prompts' lengths."""
    import dataclasses

    from acd import config as acd_config_mod
    from ivr.flows.audio_len import sound_lengths
    from ivr.flows.registry import FlowRegistry
    from ivr.runtime import ROOT

    cfg = acd_config_mod.load(ROOT / "config" / "acd.yaml")
    # The demo's made-up calls never go near a real node's records or spool.
    records = dataclasses.replace(cfg.records, url=options.records_db or f"sqlite:///{ROOT / 'var' / 'demo-records.db'}",
                                  spool_dir=options.records_spool or str(ROOT / "var" / "demo-spool"))
    cfg = dataclasses.replace(cfg, agents=demo_agents(options.agents), records=records)
    registry = FlowRegistry(ROOT / "flows", ROOT / "config")
    return cfg, dict(sound_lengths(registry.load()))


def _progress(run: DemoRun, engine) -> dict[str, int]:
    counts = {"offered": run.offered, "live": len(engine.calls), "answered": 0, "abandoned": 0, "other": 0}
    for r in engine.finished:
        if r.kind == "callback":
            continue
        key = r.outcome if r.outcome in ("answered", "abandoned") else "other"
        counts[key] += 1
    return counts
