"""A whole hotline in one process: the built-in PBX, the engine, callers and agents.

The PBX listens on a loopback port and the engine reaches it through the same
AMI link ``ivr serve`` uses against a real Asterisk; nothing is short-circuited.
The PBX runs faster than real time (``speed``), so a few minutes of hotline
traffic fit in well under a minute; figures are reported in the PBX's seconds.

A seed fixes the whole call story: when each caller rings, what they press, how
long they hold on, and how long each agent takes to answer and to talk (each agent
draws from a generator of its own, not from the PBX's shared one, whose draws
follow the order events happen to arrive in); the flows see the same day and hour
on every run (:data:`ivr.demo_staffing.DEMO_AT`).  What is left to chance is the
event loop's timing at ``speed`` times real time: a millisecond of jitter is 0.04
PBX seconds at 40x, enough now and then to decide a caller whose patience ends just
as an agent frees, so two runs' figures can differ by a call.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import random
import time
from dataclasses import dataclass, field
from typing import Any, Callable

from hotline.errors import UserError
from ivr.demo_staffing import ANSWER_DELAY_S, DEMO_AT
from ivr.engine.records import CallRecord, tally
from ivr.pbx.config import PbxConfig
from ivr.pbx.core import Pbx
from ivr.pbx.scripts import AgentBehaviour, CallerScript, LoadProfile, exponential


@dataclass
class DemoOptions:
    calls: int = 100
    agents: int | None = None          # on duty, the phone that rings out included; None: Erlang C sizes them
    calls_per_h: float = 280.0         # the callers' arrival rate (the PBX's hours)
    speed: float = 40.0
    seed: int = 1
    talk_mean_s: float = 60.0          # the PBX's seconds
    patience_mean_s: float = 90.0      # callers on hold music give up after this, on average
    wrapup_s: float = 10.0             # the ACD's wrap-up after each call (config/acd.yaml)
    noanswer_agents: int = 1           # agents whose phone rings out (ring-timeout path)
    minimal: bool = False              # the smoke path instead of flows and ACD
    timeout_s: float = 120.0           # wall-clock guard for the whole run
    records_db: str | None = None      # where the call records go (default: var/demo-records.db)
    records_spool: str | None = None   # and where they wait for it (default: var/demo-spool)
    flows_dir: str | None = None       # the flows the callers walk (default: the shipped ones)


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
    staffing: Any = None               # ivr.demo_staffing.DemoStaffing: how the agents were chosen

    def summary(self) -> dict[str, Any]:
        out = tally(self.records, offered=self.offered, time_scale=self.options.speed)
        pbx_ended = sum(1 for r in self.pbx_records if r.end is not None)
        out.update(heard(self.records, self.pbx_records))
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


def heard(records: list[CallRecord], pbx_records: list[Any]) -> dict[str, int]:
    """What the plan's callers met on the way: placed by their mobile number, told their place
    in line, offered a callback that keeps it (and taken it), or a kept hotline's own seats."""
    def played(rec, *names):
        return any(p.rsplit("/", 1)[-1] in names for p in rec.played)

    return {
        "mobile_placed": sum(1 for r in records if r.located_by == "mobile_segment"),
        "heard_place": sum(1 for r in pbx_records if played(r, "queue_ahead", "queue_next")),
        "callback_offered": sum(1 for r in pbx_records if played(r, "callback_offer")),
        "callback_kept_place": sum(1 for r in records if r.reason.startswith("callback requested while waiting")),
        "kept_hotline_calls": sum(1 for r in records if r.dialled.endswith(("12333", "12366"))),
        "agent_transfers": sum(1 for r in records for leg in r.dial_attempts if leg.get("by")),
    }


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


def demo_agents(n: int, seats: list[tuple[str, tuple[str, ...]]] | None = None):
    """``n`` ACD agents dialled at Local/NNNN@agents, seated by ``seats`` (queue, skills) or,
    without them, spread over the demo's centers."""
    from acd.model import Agent

    agents = []
    for i, endpoint in enumerate(agent_endpoints(n)):
        center, skills = seats[i] if seats else DEMO_SEATS[i % len(DEMO_SEATS)]
        agents.append(Agent(id=str(1001 + i), dial=endpoint, name=f"demo-{1001 + i}", center=center,
                            queues=[center], skills={s: 3 for s in skills}))
    return agents


class _Draws:
    """One agent's answer delays or talk times, in the order that agent takes calls.

    The PBX hands in its shared generator, whose state depends on how many AGI commands
    and bridges came first; ignoring it keeps an agent's n-th call the same on every run.
    """

    def __init__(self, seed: int, endpoint: str, what: str, draw: Callable[[random.Random], float]):
        self.rng = random.Random(f"{seed}/{endpoint}/{what}")
        self.draw = draw

    def __call__(self, _pbx_rng: random.Random) -> float:
        return self.draw(self.rng)


def noanswer_count(options: DemoOptions) -> int:
    """Phones that ring out (the ring-timeout path), when there is an agent left to answer."""
    return options.noanswer_agents if (options.agents or 0) > options.noanswer_agents else 0


#: A city agent hands the caller on, keying it on the phone a few seconds into the conversation
#: (config/engine.yaml agent_keys): a province matter, or a tax one for the 12366 sub-center.
DEMO_TRANSFERS = ((0.08, "#11#"), (0.04, "#112366#"))
HAND_ON_AFTER_S = 6.0


class _HandsOn:
    """The keys one agent presses on each call (most calls: none), the same on every run."""

    def __init__(self, seed: int, endpoint: str):
        self.rng = random.Random(f"{seed}/{endpoint}/transfer")

    def __call__(self, _pbx_rng: random.Random) -> tuple[tuple[float, str], ...]:
        x = self.rng.random()
        for share, keys in DEMO_TRANSFERS:
            if x < share:
                return ((HAND_ON_AFTER_S, keys),)
            x -= share
        return ()


def agent_behaviours(options: DemoOptions, agents=()) -> dict[str, AgentBehaviour]:
    """``agents``: the ACD's (their centers): city agents hand some callers on (DEMO_TRANSFERS)."""
    centers = {a.dial: a.center for a in agents}
    table = {}
    for i, endpoint in enumerate(agent_endpoints(options.agents)):
        if i < noanswer_count(options):
            table[endpoint] = AgentBehaviour(kind="noanswer")
        else:
            center = centers.get(endpoint, "province")
            city = center != "province" and not center.startswith("hotline-")
            table[endpoint] = AgentBehaviour(
                kind="answer", ends="agent",
                answer_after_s=_Draws(options.seed, endpoint, "answer", lambda rng: rng.uniform(1.0, 4.0)),
                talk_s=_Draws(options.seed, endpoint, "talk", exponential(options.talk_mean_s)),
                keys=_HandsOn(options.seed, endpoint) if city else ())
    return table


#: Who calls: fixed lines of three cities, Jilin mobiles placed by their number segment (Changchun,
#: Yanbian), and mobiles from elsewhere; what they dial: mostly 12345, some the kept hotlines.
DEMO_NUMBERS = ("0431", "0432", "0433", "1380431", "1584430", "138", "139")
DEMO_DIDS = ("12345",) * 8 + ("12333", "12366")
DEMO_OFFER_AFTER_S = 20.0          # PBX seconds of waiting before a callback is offered


def caller_load(options: DemoOptions) -> list[tuple[float, CallerScript]]:
    profile = LoadProfile(rate_per_s=options.calls_per_h / 3600.0, calls=options.calls, seed=options.seed,
                          patience_mean_s=options.patience_mean_s,
                          key_choices=DEMO_KEYS, numbers=DEMO_NUMBERS, dids=DEMO_DIDS)
    return profile.scripts()


async def run_demo(options: DemoOptions, *,
                   on_progress: Callable[[dict[str, int]], None] | None = None) -> DemoRun:
    """Run the demo and return what the engine and the PBX each recorded."""
    from ivr import settings as settings_mod
    from ivr.runtime import ROOT, build_runtime

    secret = os.urandom(12).hex()
    acd_config, prompts = None, {}
    if not options.minimal:
        acd_config, prompts = _acd_and_prompts(options)
    options, staffing, acd_config = await asyncio.to_thread(_staff, options, acd_config)
    pbx = Pbx(PbxConfig.load(speed=options.speed, seed=options.seed, secret=secret),
              agents=agent_behaviours(options, acd_config.agents if acd_config is not None else ()))
    pbx.config.prompts.update(prompts)
    pbx.default_talk_s = exponential(options.talk_mean_s)   # outside lines a flow transfers to
    host, port = await pbx.start()
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port = host, port
    settings.ami.send_filters = True
    settings.ami.ping_interval_s = 2.0
    # the built-in PBX writes the demo's recordings (silence of the conversations' length) here
    settings.engine.recordings.dir = str(ROOT / "var" / "demo-recordings")
    runtime = await build_runtime(settings, secret=secret, minimal=options.minimal, acd_store="memory",
                                  flows_dir=options.flows_dir,
                                  agents=agent_endpoints(options.agents), speed=options.speed,
                                  acd_config=acd_config, login_all=True, node="demo",
                                  records=not options.minimal, recordings=not options.minimal)
    if acd_config is not None:
        runtime.program.now = DEMO_AT          # office hours as in the staffing walk
    run = DemoRun(options, staffing=staffing)
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
    from hotline import paths
    from ivr.flows.registry import FlowRegistry
    from ivr.runtime import ROOT

    cfg = acd_config_mod.load()
    # The demo's made-up calls never go near a real node's records or spool.
    records = dataclasses.replace(cfg.records, url=options.records_db or f"sqlite:///{ROOT / 'var' / 'demo-records.db'}",
                                  spool_dir=options.records_spool or str(ROOT / "var" / "demo-spool"))
    # A demo run lasts minutes of PBX time: offer callbacks sooner than a live queue would, so they show.
    queues = {q: dataclasses.replace(c, callback_offer_after_s=min(c.callback_offer_after_s, DEMO_OFFER_AFTER_S))
              for q, c in cfg.queues.items()}
    cfg = dataclasses.replace(cfg, agents=demo_agents(options.agents or 1), records=records, queues=queues)
    registry = FlowRegistry(options.flows_dir or paths.flows_dir(), paths.config_dir())
    return cfg, dict(sound_lengths(load_flows(registry)))


def load_flows(registry):
    """The flowset, or the first problem as the one line a user acts on (file:line:col: what).

    The flows are checked before the registry loads them: the registry logs a refused load
    as a structured event for a node's operator, which a person at the demo has no use for.
    """
    from ivr.flows.check import flow_files, load_and_check
    from ivr.flows.registry import FlowsBroken

    if not registry.flows_dir.is_dir():
        raise UserError(f"--flows {registry.flows_dir}: no such folder")
    config_dir = registry.config_dir if registry.config_dir.is_dir() else None
    result = load_and_check(flow_files(registry.flows_dir), config_dir, registry.prompts_dir,
                            sounds_dir=registry.sounds_dir)
    problems = [p for p in result.causes_first if p.blocks_serving]
    try:
        if not problems:
            return registry.load()
    except FlowsBroken as exc:
        problems = list(exc.problems)
    more = f" ({len(problems) - 1} more: ivr check lists them)" if len(problems) > 1 else ""
    raise UserError(f"{problems[0] if problems else 'the flows do not load'}{more}")


def _staff(options: DemoOptions, acd_config):
    """The agents: Erlang C's number for the demo's own callers, or ``--agents`` shared out by load.

    Runs in a thread: walking the callers through the flows runs an event loop of its own.
    """
    from ivr import demo_staffing

    scripts = caller_load(options)
    if acd_config is None:      # the smoke path: one pool, the first free agent, no wrap-up
        calls, skills, target, within, wrapup = {"all": len(scripts)}, {}, 0.8, 15.0, 0.0
    else:
        calls, skills = demo_staffing.queue_demand(scripts, options.flows_dir)
        target, within = acd_config.records.answer_target, acd_config.service_level_s
        wrapup = max((acd_config.queues[q].wrapup_s for q in calls if q in acd_config.queues),
                     default=options.wrapup_s)
    answering = None if options.agents is None else options.agents - noanswer_count(options)
    staffing = demo_staffing.plan(calls, skills, span_s=options.calls * 3600.0 / options.calls_per_h,
                                  aht_s=options.talk_mean_s + wrapup + ANSWER_DELAY_S,
                                  target_sl=target, within_s=within, agents=answering)
    if options.agents is None:
        ringing_out = options.noanswer_agents if staffing.answering else 0
        options = dataclasses.replace(options, agents=max(1, staffing.answering + ringing_out))
    seats = [(q.queue, q.skills or ("zh",)) for q in staffing.queues for _ in range(q.agents)]
    seats = seats[:1] * noanswer_count(options) + seats
    seats += [("changchun", ("zh",))] * (options.agents - len(seats))
    if acd_config is not None:
        acd_config = dataclasses.replace(acd_config, agents=demo_agents(options.agents, seats))
    return options, staffing, acd_config


def _progress(run: DemoRun, engine) -> dict[str, int]:
    """Callers placed and ended, and the engine's own callbacks apart: a callback is a call too,
    so a screen counting only callers would show every call ended while one still rings."""
    counts = {"calls": run.options.calls, "offered": run.offered, "live": len(engine.calls), "answered": 0,
              "abandoned": 0, "other": 0, "ended": 0, "callbacks": 0, "callbacks_ended": 0}
    for r in engine.finished:
        if r.kind == "callback":
            counts["callbacks"] += 1
            counts["callbacks_ended"] += 1
            continue
        counts["ended"] += 1
        key = r.outcome if r.outcome in ("answered", "abandoned") else "other"
        counts[key] += 1
    counts["callbacks"] += sum(1 for r in engine.records.values() if r.kind == "callback")
    return counts
