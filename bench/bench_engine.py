"""Engine CPU per call and per AGI command, with the PBX's CPU measured apart.

    python bench/bench_engine.py [--calls 500] [--rate 50] [--prompt demo-congrats]

The built-in PBX runs in its own process (``python -m ivr.pbx``) and generates
the callers itself; this process runs the real engine (AMI link, router, one
AsyncAGI call object and one task per call) with a five-command program like the
anchor measured on a real Asterisk in shared/ami-captures/README.md (ANSWER,
STREAM FILE, GET DATA, SET VARIABLE, HANGUP).  With an 8 s prompt at 50 calls/s
about 500 calls are up at once.  Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from hotline import log  # noqa: E402
from ivr.agi.call import ResumeTarget  # noqa: E402
from ivr.ami.link import AmiLink  # noqa: E402
from ivr.engine.engine import EVENT_MASK, Engine  # noqa: E402
from ivr.pbx.process import PbxProcess  # noqa: E402

ANCHOR_MS_PER_COMMAND = 0.2     # the captures README: a raw controller on a real Asterisk
ANCHOR_MS_PER_CALL = (0.9, 0.7)  # 200 calls at 20/s, 500 calls at 50/s


def five_commands(prompt: str):
    async def program(call, record):
        await call.answer()
        record.answered = time.time()
        await call.play([prompt])
        key = await call.collect("vm-press", max_digits=1, timeout_s=3)
        await call.set_var("HOTLINE_KEY", key or "none")
        await call.hangup()
    return program


async def main(args) -> dict:
    secret = os.urandom(12).hex()
    os.environ["IVR_PBX_SECRET"] = secret
    records_file = tempfile.NamedTemporaryFile(suffix=".jsonl", delete=False).name
    pbx = PbxProcess("--speed", "1", "--load-calls", str(args.calls), "--load-rate", str(args.rate),
                     "--load-after-login", "--records", records_file)
    host, port = await pbx.start()
    link = AmiLink(host, port, "hotline", secret, events=EVENT_MASK, filters=Engine.filters(),
                   action_timeout=30, ping_interval=5)
    engine = Engine(link, five_commands(args.prompt), resume=ResumeTarget(), node="bench")
    cpu0, wall0 = time.process_time(), time.monotonic()
    pbx_cpu0 = pbx.cpu_seconds()
    await link.connect()
    peak = 0
    deadline = wall0 + args.calls / args.rate + 120
    while len(engine.finished) < args.calls and time.monotonic() < deadline:
        peak = max(peak, len(engine.calls))
        await asyncio.sleep(0.05)
    cpu = time.process_time() - cpu0
    wall = time.monotonic() - wall0
    pbx_cpu = pbx.cpu_seconds() - pbx_cpu0
    await engine.stop(timeout=5)
    await link.close()
    await pbx.stop()
    os.unlink(records_file)
    finished = engine.finished
    commands = sum(r.agi_steps for r in finished)
    out = {
        "calls": args.calls,
        "rate_per_s": args.rate,
        "finished": len(finished),
        "lost": args.calls - len(finished),
        "peak_concurrent_calls": peak,
        "agi_commands": commands,
        "wall_s": round(wall, 2),
        "engine_cpu_s": round(cpu, 3),
        "engine_ms_per_call": round(1000 * cpu / max(1, len(finished)), 3),
        "engine_ms_per_agi_command": round(1000 * cpu / max(1, commands), 3),
        "pbx_cpu_s": round(pbx_cpu, 3),
        "pbx_ms_per_call": round(1000 * pbx_cpu / max(1, len(finished)), 3),
        "anchor_raw_controller_ms_per_agi_command": ANCHOR_MS_PER_COMMAND,
        "anchor_raw_controller_ms_per_call": ANCHOR_MS_PER_CALL,
    }
    out["engine_vs_anchor_per_command"] = round(out["engine_ms_per_agi_command"] / ANCHOR_MS_PER_COMMAND, 2)
    return out


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--prompt", default="demo-congrats", help="prompt played to each caller (its length sets concurrency)")
    args = parser.parse_args()
    log.setup("warning")
    result = asyncio.run(main(args))
    print(json.dumps(result, indent=2))
