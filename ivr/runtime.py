"""Putting the engine together: AMI link, engine, and the program each call runs.

``ivr serve`` and ``ivr demo`` both build a :class:`Runtime`; they differ only
in where the PBX is, where the callers come from and where the ACD keeps its
state (Redis for a hotline served by several nodes, memory for the demo).
"""

from __future__ import annotations

import os
import pathlib
import time
from dataclasses import dataclass, field
from typing import Any

from acd.api import AcdApi
from hotline import log as logmod
from hotline.supervise import Supervisor
from ivr.agi.call import Deadlines, ResumeTarget
from ivr.ami.link import AmiLink
from hotline import paths
from hotline.errors import EXIT_UNREACHABLE, EXIT_USER, UserError, describe
from ivr.engine.engine import EVENT_MASK, Engine
from ivr.engine.minimal import FirstFreeAgents, MinimalProgram
from ivr.engine.recording import RecordingPlace

ROOT = pathlib.Path(__file__).resolve().parent.parent


@dataclass
class Runtime:
    """Owns the node's one supervision tree (hotline/supervise.py): the ACD, the callback dialer
    and the engine each run their tasks in a scope of it, and :meth:`stop` takes them down in
    the order that loses no caller's write (see there)."""

    link: AmiLink
    engine: Engine
    program: Any
    acd: AcdApi | None = None
    callbacks: Any = None
    login_agents: list[str] = field(default_factory=list)
    watch_flows_s: float | None = None   # poll flow and config files for changes (serve)
    records: Any = None                  # acd.db.writer.RecordWriter: call records, agent history
    records_status: dict[str, Any] | None = None   # the writer's last status, once stopped
    tree: Supervisor = field(default_factory=lambda: Supervisor("node"))
    recordings: Any = None               # ivr.engine.recording.RecordingPlace: swept while running

    def _start_records(self) -> None:
        """Every ended call and every agent state change goes to the records writer's spool."""
        writer = self.records
        self.engine.on_record = writer.submit_call
        if self.acd is not None:
            self.acd.attach_records(writer.submit, writer.health)
        self.tree.scope("records").keep_running(writer.run, name="records-writer")

    async def start(self) -> None:
        if self.records is not None:
            self._start_records()
        if self.acd is not None:
            await self.acd.start()
            for agent_id in self.login_agents:
                await self.acd.login(agent_id)
        await self.link.connect(spawn=self.tree.scope("link").spawn)
        if self.callbacks is not None:
            await self.callbacks.start()
        if self.engine.leases is not None:
            from ivr.engine.ownership import renew_forever

            every_s = self.engine.leases.lease_s / 3
            self.engine.supervisor.keep_running(lambda: renew_forever(self.engine, every_s), name="lease-renewal")
        if self.recordings is not None:
            from ivr.engine.recording import sweep_forever

            self.tree.scope("recordings").keep_running(lambda: sweep_forever(self.recordings), name="recordings-sweep")
        registry = getattr(self.program, "registry", None)
        if self.watch_flows_s and registry is not None:
            # A broken edit is refused (logged) and the old version keeps serving.
            self.tree.scope("flows").keep_running(lambda: registry.watch(self.watch_flows_s), name="flows-watch")

    async def stop(self, drain_s: float | None = None) -> None:
        """Stop; with ``drain_s``, take no new calls and let running ones reach a safe point first.

        In order: new calls off (and flow reloads), callbacks, the ACD's loops, the calls
        (waited for, then cancelled), the AMI link, the ACD's store (its queued writes -- a
        call's end, an agent freed -- land first), the records.  Each step awaits its tasks,
        and nothing of the tree is left running when this returns.
        """
        self.engine.accepting = False
        await self.tree.scope("flows").cancel_all()
        if drain_s is not None:
            await self.engine.drain(drain_s)
        if self.callbacks is not None:
            await self.callbacks.stop()
        if self.acd is not None:
            await self.acd.stop_loops()
        await self.engine.stop()
        await self.link.close()
        if self.acd is not None:
            await self.acd.stop(flush_s=5.0)
        if self.records is not None:
            from acd.db.writer import close_writer

            await self.tree.scope("records").cancel_all()
            writer, self.records = self.records, None
            # What the database does not take waits in the spool for the next start.
            self.records_status = await close_writer(writer)
        await self.tree.cancel_all()
        logmod.get("ivr.runtime").info("runtime.stopped", task_failures=self.tree.total_failures)

    def reload(self) -> None:
        """SIGHUP: reload the flows off the event loop (the registry logs the outcome in one line)."""
        reload = getattr(self.program, "reload_async", None)
        if reload is None:
            logmod.get("ivr.runtime").info("reload.ignored", reason="nothing to reload")
            return
        self.tree.scope("flows").spawn(reload(), name="flows-reload")

    def status(self) -> dict[str, Any]:
        out = {"engine": self.engine.status(), "ami": self.link.status, "tasks": self.tree.status()}
        if self.acd is not None:
            out["acd"] = self.acd.status
        if self.records is not None:
            out["records"] = self.records.status()
        return out


def make_link(ami, secret: str) -> AmiLink:
    return AmiLink(
        ami.host, ami.port, ami.username, secret,
        events=EVENT_MASK,
        filters=Engine.filters() if ami.send_filters else (),
        action_timeout=ami.action_timeout_s,
        ping_interval=ami.ping_interval_s,
        ping_timeout=ami.ping_timeout_s,
        slow_s=ami.slow_s,
        overload_s=ami.overload_s,
        backoff_initial=ami.backoff_initial_s,
        backoff_max=ami.backoff_max_s,
    )


def scaled_clock(speed: float):
    """The ACD's clock when the built-in PBX runs ``speed`` times faster than real time."""
    if speed == 1.0:
        return time.time
    base = time.time()
    return lambda: base + (time.time() - base) * speed


async def open_store(kind: str, cfg):
    if kind == "memory":
        from acd.store import MemoryStore

        return MemoryStore()
    from acd.redis_store import RedisStore

    try:
        return await RedisStore.from_config(cfg.redis)
    except UserError:
        raise
    except Exception as exc:
        where = f"{cfg.redis.host}:{cfg.redis.port}"
        text = str(exc) if where in str(exc) else f"cannot reach Redis at {where}: {describe(exc)}"
        raise UserError(text, code=EXIT_UNREACHABLE) from None


async def build_runtime(settings, *, secret: str, flows_dir=None, acd_store: str | None = None,
                        minimal: bool = False, agents: list[str] | None = None, speed: float = 1.0,
                        acd_config=None, login_all: bool = False, node: str | None = None,
                        lease_s: float = 10.0, clock=None, sounds_dir=None,
                        reload_timeout_s: float | None = None, records: bool = False,
                        records_db: str | None = None, db_optional: bool = False,
                        recordings: bool = False) -> Runtime:
    """``recordings``: record conversations where a queue says so, into engine.recordings.dir
    (``ivr serve`` and the demo; tests that look at recordings)."""
    link = make_link(settings.ami, secret)
    resume = ResumeTarget(**{k: str(v) for k, v in settings.engine.resume.items()})
    node = node or f"{os.uname().nodename}-{os.getpid()}"
    deadlines = Deadlines(scale=1.0 / max(speed, 1.0))
    tree = Supervisor(f"node {node}")
    if minimal:
        program = MinimalProgram(FirstFreeAgents(list(agents or settings.engine.agents)))
        engine = Engine(link, program, resume=resume, contexts=tuple(settings.engine.contexts), node=node,
                        deadlines=deadlines, tree=tree)
        return Runtime(link=link, engine=engine, program=program, tree=tree)

    from acd import config as acd_config_mod
    from acd.leases import leases_for
    from acd.service import Acd
    from ivr.engine.acd_glue import AcdServices
    from ivr.engine.callbacks import CallbackDialer
    from ivr.engine.ownership import Adoption, ChannelLeases
    from ivr.engine.shed import ShedProgram
    from ivr.flows.program import FlowProgram
    from ivr.flows.registry import FlowRegistry, FlowsBroken

    extra = {} if reload_timeout_s is None else {"reload_timeout_s": reload_timeout_s}
    registry = FlowRegistry(flows_dir or paths.flows_dir(), paths.config_dir(), sounds_dir=sounds_dir, **extra)
    try:
        registry.load()
    except FlowsBroken as exc:
        first = exc.problems[0] if exc.problems else "no detail"
        raise UserError(f"flows do not pass the check ({len(exc.problems)} problems), first: {first}") from None
    if acd_config is None:
        try:
            acd_config = acd_config_mod.load()
        except acd_config_mod.ConfigError as exc:
            raise UserError(str(exc)) from None
    store = await open_store(acd_store or "redis", acd_config)
    fast = max(speed, 1.0)
    acd = Acd(store, acd_config, node_id=node, clock=clock or scaled_clock(speed),
              dispatch_interval_s=0.25 / fast, maintenance_interval_s=max(0.5 / fast, 0.01), tree=tree)
    callbacks = CallbackDialer(link, acd, tree=tree) if acd_config.callbacks.enabled else None
    # A shared store means other nodes may serve the same Asterisk: lease each channel.
    leases = ChannelLeases(leases_for(store), node, lease_s=lease_s) if (acd_store or "redis") == "redis" else None
    engine = Engine(link, None, resume=resume, contexts=tuple(settings.engine.contexts), node=node,
                    context_programs={callbacks.context: callbacks.program} if callbacks else None,
                    leases=leases, deadlines=deadlines, sound_seconds=_sound_lengths(registry), tree=tree)
    if callbacks is not None:
        engine.originate_listeners.append(callbacks.on_originate_response)
    starts, end = settings.engine.transfer_keys()
    rec = settings.engine.recordings
    place = RecordingPlace(str(rec.dir), float(rec.retention_days), float(rec.sweep_every_s)) if recordings else None
    services = AcdServices(acd, records=engine.records.get, speed=speed,
                           sound=lambda pid, lang: registry.snapshot().shared_sound(pid, lang),
                           agent_keys=starts, agent_keys_end=end, recordings=place)
    program = FlowProgram(registry, services)
    engine.program = program
    engine.adopt_program = Adoption(acd, services, program, link)
    engine.shed_program = ShedProgram(acd, _route(registry), _shared_sound(registry, "system_fault"), services)
    writer = await _open_records(acd_config, records_db, db_optional, node) if records else None
    return Runtime(link=link, engine=engine, program=program, acd=acd, callbacks=callbacks,
                   login_agents=[a.id for a in acd_config.agents] if login_all else [], records=writer, tree=tree,
                   recordings=place)


async def _open_records(acd_config, url: str | None, optional: bool, node: str):
    from acd.db.connect import DbError
    from acd.db.writer import open_writer

    try:
        return await open_writer(acd_config.records, url=url, optional=optional, node=node)
    except DbError as exc:
        code = EXIT_UNREACHABLE if type(exc).__name__ == "DbUnavailable" else EXIT_USER
        raise UserError(f"{exc}{'' if optional else ' (--db-optional: take calls and spool the records)'}",
                        code=code) from None
    except OSError as exc:
        raise UserError(str(exc)) from None


def _sound_lengths(registry):
    """Length of a sound file in PBX seconds, from the flows now serving (for command deadlines)."""
    from ivr.flows.audio_len import sound_lengths

    cache: dict[str, Any] = {"version": None, "lengths": {}}

    def length(name: str) -> float | None:
        if cache["version"] != registry.version:
            cache["version"], cache["lengths"] = registry.version, sound_lengths(registry.snapshot())
        return cache["lengths"].get(name)

    return length


def _route(registry):
    """(dialled, caller) -> (center, language) by the flows' routing, for a shed caller."""

    def route(dialled: str, caller: str) -> tuple[str, str]:
        try:
            plan = registry.plan(dialled, caller)
        except Exception:
            return "", "zh"
        return plan.route.center, plan.route.vars.get("language", "zh") or "zh"

    return route


def _shared_sound(registry, prompt_id: str):
    """The sound of one of the engine's own prompts, per language, on the flows now serving."""
    return lambda lang: registry.snapshot().shared_sound(prompt_id, lang)
