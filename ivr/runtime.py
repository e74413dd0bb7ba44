"""Putting the engine together: AMI link, engine, and the program each call runs.

``ivr serve`` and ``ivr demo`` both build a :class:`Runtime`; they differ only
in where the PBX is and where the callers come from.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ivr import log as logmod
from ivr.agi.call import ResumeTarget
from ivr.ami.link import AmiLink
from ivr.engine.engine import EVENT_MASK, Engine
from ivr.engine.minimal import FirstFreeAgents, MinimalProgram


@dataclass
class Runtime:
    link: AmiLink
    engine: Engine
    program: Any
    parts: list[Any] = field(default_factory=list)  # things with async start()/stop()

    async def start(self) -> None:
        for part in self.parts:
            await part.start()
        await self.link.connect()

    async def stop(self) -> None:
        await self.engine.stop()
        await self.link.close()
        for part in reversed(self.parts):
            await part.stop()

    def reload(self) -> None:
        reload = getattr(self.program, "reload", None)
        if reload is None:
            logmod.get("ivr.runtime").info("reload.ignored", reason="nothing to reload")
            return
        reload()


def make_link(ami, secret: str) -> AmiLink:
    return AmiLink(
        ami.host, ami.port, ami.username, secret,
        events=EVENT_MASK,
        filters=Engine.filters() if ami.send_filters else (),
        action_timeout=ami.action_timeout_s,
        ping_interval=ami.ping_interval_s,
        ping_timeout=ami.ping_timeout_s,
        backoff_initial=ami.backoff_initial_s,
        backoff_max=ami.backoff_max_s,
    )


async def build_runtime(settings, *, secret: str, flows_dir=None, acd_store=None, minimal: bool = False,
                        agents: list[str] | None = None, speed: float = 1.0) -> Runtime:
    link = make_link(settings.ami, secret)
    resume = ResumeTarget(**{k: str(v) for k, v in settings.engine.resume.items()})
    program = MinimalProgram(FirstFreeAgents(list(agents or settings.engine.agents)))
    engine = Engine(link, program, resume=resume, contexts=tuple(settings.engine.contexts))
    return Runtime(link=link, engine=engine, program=program)
