"""The whole engine while Redis is stopped and restarted empty mid-run.

A private redis-server (no persistence) on a free port, so stopping it disturbs
nobody else.  What must hold: no call is lost (every PBX call ends and has an
engine record), calls already talking carry on, callers who arrive or wait
during the outage still reach agents afterwards, no agent is in two calls.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import sys
import pathlib

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent.parent / "acd"))

from acd_fixtures import free_port, start_redis, stop_redis  # noqa: E402
from test_two_nodes import SPEED, acd_config, assert_no_agent_twice  # noqa: E402

from ivr import settings as settings_mod  # noqa: E402
from ivr.pbx.config import PbxConfig  # noqa: E402
from ivr.pbx.core import Pbx  # noqa: E402
from ivr.pbx.scripts import AgentBehaviour, LoadProfile  # noqa: E402
from ivr.runtime import build_runtime, scaled_clock  # noqa: E402


async def test_engine_rides_out_a_redis_restart():
    port = free_port()
    redis = await start_redis(port)
    secret = os.urandom(8).hex()
    agents = 4
    behaviours = {f"Local/{3000 + i}@agents": AgentBehaviour(kind="answer", answer_after_s=1.0, talk_s=30.0)
                  for i in range(agents)}
    pbx = Pbx(PbxConfig.load(speed=SPEED, seed=5, secret=secret), agents=behaviours)
    host, pbx_port = await pbx.start()
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port, settings.ami.send_filters = host, pbx_port, True
    cfg = acd_config("restart:", agents)
    cfg = dataclasses.replace(cfg, redis=dataclasses.replace(cfg.redis, port=port))
    rt = await build_runtime(settings, secret=secret, acd_store="redis", acd_config=cfg, login_all=True,
                             node="solo", speed=SPEED, lease_s=1.0, clock=scaled_clock(SPEED))
    await rt.start()
    try:
        scripts = LoadProfile(rate_per_s=0.5, calls=16, seed=21, patience_mean_s=None,
                              abandon_in_menu=0.0).scripts()
        handles = []
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        restarted = False
        for offset, script in scripts:
            await asyncio.sleep(max(0.0, offset / SPEED - (loop.time() - t0)))
            handles.append(pbx.place_call(script))
            if len(handles) == 8 and not restarted:
                # Mid-run: some callers talk, some wait on hold music.
                stop_redis(redis)
                await asyncio.sleep(1.0)
                redis = await start_redis(port)
                restarted = True
        await asyncio.wait_for(asyncio.gather(*(h.wait() for h in handles)), 90)
        while rt.engine.calls:
            await asyncio.sleep(0.05)
    finally:
        await rt.stop()
        await pbx.stop()
        stop_redis(redis)
    assert restarted
    ids = {r.call_id for r in pbx.records}
    finished = {r.call_id for r in rt.engine.finished}
    assert ids <= finished, "a call has no recorded end"
    talked = [r for r in pbx.records if r.talked_to]
    assert len(talked) == 16, f"only {len(talked)} of 16 callers reached an agent"
    assert_no_agent_twice(pbx)
