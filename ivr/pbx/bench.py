"""Benchmark: the PBX's CPU per call under load, measured in its own process.

    python -m ivr.pbx.bench --calls 500 --rate 50 --talk-s 15     # ~500 calls up at once

The PBX runs in a child process (``python -m ivr.pbx``) and generates the
callers itself; this process plays a minimal engine over raw AMI (5 AGI
commands a call, as the anchor measured on the real Asterisk in
shared/ami-captures/README.md).  Prints PBX and controller CPU per call and the
peak number of concurrent calls.  Figures, not assertions: speed is not tested.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import time
from urllib.parse import unquote

from ivr.ami.protocol import Message, Parser, encode

from .process import PbxProcess


class MiniEngine:
    def __init__(self, reader, writer):
        self.reader, self.writer = reader, writer
        self.parser = Parser()
        self.pending: dict[str, asyncio.Future] = {}
        self.active = 0
        self.peak = 0
        self.calls = 0
        self.seq = 0
        self.tasks: set[asyncio.Task] = set()

    def send(self, headers) -> None:
        self.writer.write(encode(headers))

    async def run(self) -> None:
        while True:
            data = await self.reader.read(65536)
            if not data:
                return
            for m in self.parser.feed(data):
                if isinstance(m, Message) and m.event:
                    self.on_event(m)
                elif isinstance(m, Message) and m.response == "Error":
                    fut = self.pending.pop(m.action_id or "", None)
                    if fut is not None and not fut.done():
                        fut.set_result("gone")

    def on_event(self, m: Message) -> None:
        if m.event == "AsyncAGIStart":
            self.calls += 1
            t = asyncio.get_running_loop().create_task(self.call(m["Channel"]))
            self.tasks.add(t)
            t.add_done_callback(self.tasks.discard)
        elif m.event == "AsyncAGIExec":
            fut = self.pending.pop(m.get("CommandId") or "", None)
            if fut is not None and not fut.done():
                fut.set_result(unquote(m.get("Result") or ""))

    async def agi(self, channel: str, command: str) -> str:
        self.seq += 1
        cid = f"b{self.seq}"
        fut = asyncio.get_running_loop().create_future()
        self.pending[cid] = fut
        self.send([("Action", "AGI"), ("ActionID", cid), ("Channel", channel), ("Command", command),
                   ("CommandID", cid)])
        return await fut

    async def call(self, ch: str) -> None:
        self.active += 1
        self.peak = max(self.peak, self.active)
        try:
            for cmd in ("ANSWER", 'STREAM FILE hello-world ""', "GET DATA beep 3000 1",
                        "EXEC Dial Local/1001@agents,20", "HANGUP"):
                res = await asyncio.wait_for(self.agi(ch, cmd), 120)
                if res == "gone":       # the caller hung up: the channel is no more
                    break
        except asyncio.TimeoutError:
            pass
        finally:
            self.active -= 1


async def bench(args) -> dict:
    secret = secrets.token_hex(8)
    pbx = PbxProcess("--secret", secret, "--speed", str(args.speed), "--load-calls", str(args.calls),
                     "--load-rate", str(args.rate), *(("--talk-s", str(args.talk_s)) if args.talk_s else ("--talk-mean", str(args.talk_mean))),
                     "--ring-mean", "0.5",
                     "--load-after-login", "--exit-when-done", "--seed", str(args.seed))
    await pbx.start()
    reader, writer = await asyncio.open_connection(pbx.host, pbx.port)
    eng = MiniEngine(reader, writer)
    eng.send([("Action", "Login"), ("Username", "hotline"), ("Secret", secret), ("Events", "off")])
    eng.send([("Action", "Events"), ("EventMask", "call,agi")])
    for f in ("Event: AsyncAGI(Start|Exec)",):
        eng.send([("Action", "Filter"), ("Operation", "Add"), ("Filter", f)])
    cpu0, wall0 = time.process_time(), time.monotonic()
    pbx_cpu0 = pbx.cpu_seconds()
    reader_task = asyncio.get_running_loop().create_task(eng.run())
    peak = {"cpu_share": 0.0}

    async def sample() -> None:          # the PBX's busiest second
        last = pbx.cpu_seconds()
        while True:
            await asyncio.sleep(1.0)
            try:
                now = pbx.cpu_seconds()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                return
            peak["cpu_share"] = max(peak["cpu_share"], now - last)
            last = now

    sampler = asyncio.get_running_loop().create_task(sample())
    await pbx.proc.wait()          # the PBX exits once every generated call has ended
    sampler.cancel()
    err = (await pbx.proc.stderr.read()).decode(errors="replace").strip().splitlines()
    summary = json.loads(err[-1]) if err else {}
    reader_task.cancel()
    wall = time.monotonic() - wall0
    engine_cpu = time.process_time() - cpu0
    pbx_total = summary.get("cpu_s", float("nan")) - pbx_cpu0
    calls = max(summary.get("calls", eng.calls), 1)
    return {
        "calls": summary.get("calls"), "rate_per_s": args.rate, "speed": args.speed,
        "talk": f"{args.talk_s} s fixed" if args.talk_s else f"exp mean {args.talk_mean} s",
        "peak_concurrent_calls": eng.peak, "wall_s": round(wall, 1),
        "pbx_cpu_ms_per_call": round(1000 * pbx_total / calls, 2),
        "pbx_cpu_share_of_one_core_avg": round(pbx_total / wall, 3),
        "pbx_cpu_share_of_one_core_peak_1s": round(peak["cpu_share"], 3),
        "controller_cpu_ms_per_call": round(1000 * engine_cpu / calls, 2),
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m ivr.pbx.bench")
    p.add_argument("--calls", type=int, default=500)
    p.add_argument("--rate", type=float, default=50.0)
    p.add_argument("--talk-mean", type=float, default=8.0, help="exponential talk time of agents")
    p.add_argument("--talk-s", type=float, help="fixed talk time instead (holds every call up: peak concurrency)")
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args(argv)
    print(json.dumps(asyncio.run(bench(args))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
