"""A built-in PBX and an engine connected over a real loopback socket, for engine tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

from ivr.agi.call import Deadlines, ResumeTarget
from ivr.ami.link import AmiLink
from ivr.engine.engine import EVENT_MASK, Engine
from ivr.pbx.config import PbxConfig
from ivr.pbx.core import Pbx


@dataclass
class Hotline:
    pbx: Pbx
    link: AmiLink
    engine: Engine

    async def until(self, predicate, timeout: float = 10.0, what: str = "condition") -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not predicate():
            if loop.time() > end:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.01)

    def record(self, call_id: str):
        for r in self.engine.finished:
            if r.call_id == call_id:
                return r
        return None


@contextlib.asynccontextmanager
async def hotline(program, agents=None, *, speed: float = 40.0, seed: int = 1, deadlines: Deadlines | None = None,
                  pbx_options: dict | None = None):
    """``deadlines``: the calls' (default: short ones, so a fault test settles in seconds)."""
    secret = os.urandom(8).hex()
    pbx = Pbx(PbxConfig.load(speed=speed, seed=seed, secret=secret, **(pbx_options or {})), agents=agents or {})
    host, port = await pbx.start()
    link = AmiLink(host, port, "hotline", secret, events=EVENT_MASK, filters=Engine.filters(),
                   action_timeout=3, ping_interval=0.3, ping_timeout=0.3, backoff_initial=0.05, backoff_max=0.2)
    deadlines = deadlines or Deadlines(slack_s=1.0, probe_s=2.0, talking_check_s=1.0, link_wait_s=30.0,
                                       redirect_s=3.0, scale=1.0 / speed)
    engine = Engine(link, program, resume=ResumeTarget(), node="test", deadlines=deadlines)
    await link.connect()
    try:
        yield Hotline(pbx, link, engine)
    finally:
        hang_up_everyone(pbx)
        await engine.stop(timeout=2)
        await link.close()
        await pbx.stop()


@contextlib.asynccontextmanager
async def full_runtime(*, agents: int = 1, speed: float = 20.0, talk_s: float = 600.0, seed: int = 3):
    """The whole engine (shipped flows, in-memory ACD) on a built-in PBX whose agents talk ``talk_s``."""
    from ivr.demo import DemoOptions, _acd_and_prompts

    acd_config, prompts = _acd_and_prompts(DemoOptions(agents=agents))
    async with engine_on_pbx(acd_config, prompts, speed=speed, seed=seed, talk_s=talk_s) as running:
        yield running


@contextlib.asynccontextmanager
async def engine_on_pbx(acd_config, prompts: dict, *, speed: float, seed: int, talk_s: float,
                        answer_after_s: float = 1.0, recordings_dir: str | None = None):
    """The engine with ``acd_config`` (in-memory ACD, every agent logged in) on a built-in PBX over
    real sockets, whose agents answer after ``answer_after_s`` and talk ``talk_s``; yields (pbx, runtime).
    ``recordings_dir``: conversations are recorded there (where queues say so)."""
    from ivr import settings as settings_mod
    from ivr.pbx.scripts import AgentBehaviour
    from ivr.runtime import build_runtime

    secret = os.urandom(8).hex()
    pbx = Pbx(PbxConfig.load(speed=speed, seed=seed, secret=secret),
              agents={a.dial: AgentBehaviour(kind="answer", answer_after_s=answer_after_s, talk_s=talk_s,
                                             ends="agent") for a in acd_config.agents})
    pbx.config.prompts.update(prompts)
    host, port = await pbx.start()
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port, settings.ami.send_filters = host, port, True
    settings.ami.ping_interval_s, settings.ami.backoff_initial_s, settings.ami.backoff_max_s = 0.5, 0.05, 0.2
    if recordings_dir is not None:
        settings.engine.recordings.dir = recordings_dir
    runtime = await build_runtime(settings, secret=secret, acd_store="memory", acd_config=acd_config,
                                  login_all=True, speed=speed, node="test", recordings=recordings_dir is not None)
    await runtime.start()
    try:
        yield pbx, runtime
    finally:
        hang_up_everyone(pbx)
        await runtime.stop()
        await pbx.stop()


def hang_up_everyone(pbx) -> None:
    """What a test judges is over: the callers still on the line hang up now, so stopping the engine
    does not give their calls its grace to end on their own (seconds per test, for nothing)."""
    for channel in list(pbx.channels.values()):
        pbx.hangup(channel, cause=16, by="caller")
