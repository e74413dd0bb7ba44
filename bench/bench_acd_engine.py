"""The whole engine under load: thousands of callers in flows and queues on the built-in PBX.

    python bench/bench_acd_engine.py [--calls 3000] [--rate 50] [--agents 300] [--talk-mean 10]

The PBX runs in its own process and generates the callers (Poisson arrivals,
random keys, endless patience, so callers pile up on hold music); this process
runs the engine with the shipped flows and the ACD (in-memory store) with
``--agents`` agents serving every queue.  With the
defaults, arrivals outpace the agents and about 2,000 calls are up at once.
Prints: peak concurrent calls, calls/s handled, the delay from "agent became
free" to "Dial sent" (p50, p99), engine and PBX CPU.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from acd import config as acd_config_mod  # noqa: E402
from acd.model import Agent  # noqa: E402
from hotline import log  # noqa: E402
from ivr import settings as settings_mod  # noqa: E402
from ivr.pbx.process import PbxProcess  # noqa: E402
from ivr.runtime import ROOT, build_runtime  # noqa: E402


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


async def bench_runtime(host: str, port: int, secret: str, *, agents: int, speed: float):
    """The engine with the shipped flows and an in-memory ACD on the PBX process at host:port.

    Every agent serves every queue with every skill, so a free agent can always take the
    head of the line: the delays measured are the engine's and the ACD's, not escalation's.
    """
    cfg = acd_config_mod.load(ROOT / "config" / "acd.yaml")
    people = [Agent(id=str(10000 + i), dial=f"Local/{10000 + i}@agents", center="changchun",
                    queues=sorted(cfg.queues), skills={"zh": 3, "ko": 3, "enterprise": 3, "expert": 3})
              for i in range(agents)]
    queues = {k: dataclasses.replace(q, wrapup_s=0.0, max_waiting=100_000) for k, q in cfg.queues.items()}
    cfg = dataclasses.replace(cfg, agents=people, queues=queues,
                              callbacks=dataclasses.replace(cfg.callbacks, enabled=False))
    settings = settings_mod.load()
    settings.ami.host, settings.ami.port, settings.ami.send_filters = host, port, True
    settings.ami.action_timeout_s = 30
    return await build_runtime(settings, secret=secret, acd_store="memory", speed=speed,
                               acd_config=cfg, login_all=True, node="bench")


async def main(args) -> dict:
    secret = os.urandom(12).hex()
    os.environ["IVR_PBX_SECRET"] = secret
    pbx = PbxProcess("--speed", str(args.speed), "--load-calls", str(args.calls), "--load-rate", str(args.rate),
                     "--load-after-login", "--talk-mean", str(args.talk_mean), "--ring-mean", "2")
    host, port = await pbx.start()
    runtime = await bench_runtime(host, port, secret, agents=args.agents, speed=args.speed)
    services = runtime.engine.program.services
    cpu0, wall0, pbx_cpu0 = time.process_time(), time.monotonic(), pbx.cpu_seconds()
    await runtime.start()
    peak, last = 0, 0
    deadline = wall0 + args.calls / args.rate / args.speed + args.drain_s
    while len(runtime.engine.finished) < args.calls and time.monotonic() < deadline:
        peak = max(peak, len(runtime.engine.calls))
        now = len(runtime.engine.finished)
        if args.progress and now - last >= 250:
            last = now
            print(f"  {now} calls done, {len(runtime.engine.calls)} up", file=sys.stderr)
        await asyncio.sleep(0.1)
    wall = time.monotonic() - wall0
    cpu = time.process_time() - cpu0
    pbx_cpu = pbx.cpu_seconds() - pbx_cpu0
    finished = list(runtime.engine.finished)
    await runtime.stop()
    await pbx.stop()
    delays = list(services.free_to_dial_s)
    engine_part = list(services.offer_to_dial_s)
    answered = sum(1 for r in finished if r.outcome == "answered")
    return {
        "calls": args.calls, "rate_per_s": args.rate, "agents": args.agents, "speed": args.speed,
        "finished": len(finished), "answered": answered, "still_up_at_end": len(runtime.engine.calls),
        "peak_concurrent_calls": peak,
        "wall_s": round(wall, 1),
        "calls_per_wall_s": round(len(finished) / wall, 1),
        "agent_free_to_dial_ms_p50": None if not delays else round(1000 * percentile(delays, 0.50), 2),
        "agent_free_to_dial_ms_p99": None if not delays else round(1000 * percentile(delays, 0.99), 2),
        "agent_free_to_dial_ms_mean": None if not delays else round(1000 * statistics.fmean(delays), 2),
        "dials_measured": len(delays),
        "offer_to_dial_ms_p50": None if not engine_part else round(1000 * percentile(engine_part, 0.50), 2),
        "offer_to_dial_ms_p99": None if not engine_part else round(1000 * percentile(engine_part, 0.99), 2),
        "engine_cpu_s": round(cpu, 2), "engine_ms_per_call": round(1000 * cpu / max(1, len(finished)), 2),
        "pbx_cpu_s": round(pbx_cpu, 2), "pbx_ms_per_call": round(1000 * pbx_cpu / max(1, len(finished)), 2),
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--rate", type=float, default=50.0, help="new calls a second (PBX time)")
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--talk-mean", type=float, default=10.0, help="seconds (PBX time)")
    parser.add_argument("--speed", type=float, default=1.0, help="PBX time factor")
    parser.add_argument("--drain-s", type=float, default=240.0, help="wall seconds allowed after the last arrival")
    parser.add_argument("--progress", action="store_true")
    args = parser.parse_args()
    log.setup("error")
    print(json.dumps(asyncio.run(main(args)), indent=2))
