"""Agents handing callers on: 500 calls at 20/s, 30% transferred, on the built-in PBX in its own process.

    python bench/bench_transfer.py [--calls 500] [--rate 20] [--share 0.3] [--agents 120] [--speed 1]

The PBX process generates the callers (shipped flows, random keys) and records every
call (its longest silence included); this process runs the engine and the in-memory
ACD.  While calls talk to agents, a share of them is transferred the way the console
asks (``Acd.request_transfer``), to a mix of targets: the province queue, the 12366
sub-center's queue, and an outside number the PBX answers.  All transfers are blind:
consult and three-way are not built yet.

Prints: transfer request -> target ringing (the caller's next DialBegin) p50/p99 in
wall ms, per kind of target; callers lost or stranded (no end, or a silence of 5 s or
more once an agent had answered; must be 0); engine CPU per transfer, as the difference from a first pass of the
same calls with no transfers, within this run.  Asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

from acd.model import AcdError  # noqa: E402
from hotline import log  # noqa: E402
from ivr.pbx.process import PbxProcess  # noqa: E402

from bench_acd_engine import bench_runtime, percentile  # noqa: E402

#: Where transfers go, and how often: queue, kept hotline's queue, a number the PBX answers.
OUTSIDE = "12399"
TARGETS = (("province", 0.4), ("12366", 0.3), (OUTSIDE, 0.3))
SILENCE_S = 5.0          # PBX seconds of silence that count a caller as stranded


class Transferrer:
    """Picks calls talking to an agent and asks for their transfer; times target ringing."""

    def __init__(self, runtime, share: float, seed: int):
        self.runtime, self.share = runtime, share
        self.rng = random.Random(seed)
        self.seen: set[str] = set()
        self.asked: dict[str, tuple[str, float]] = {}        # call -> (target, wall time asked)
        self.rang: dict[str, float] = {}                     # call -> request to target ringing (s)
        self.refused = 0
        link = runtime.link
        engine_events = link.on_event

        def on_event(event):
            if event.event == "DialBegin":
                asked = self.asked.get(event.get("Uniqueid", ""))
                if asked is not None and event.get("Uniqueid") not in self.rang:
                    self.rang[event["Uniqueid"]] = time.monotonic() - asked[1]
            engine_events(event)

        link.on_event = on_event

    async def run(self) -> None:
        while True:
            for call_id, record in list(self.runtime.engine.records.items()):
                if call_id in self.seen or record.agent_answered is None:
                    continue
                self.seen.add(call_id)
                if self.rng.random() >= self.share:
                    continue
                target = self.rng.choices([t for t, _ in TARGETS], [w for _, w in TARGETS])[0]
                self.runtime.engine.supervisor.spawn(self._ask(call_id, target), name=f"bench-transfer {call_id}")
            await asyncio.sleep(0.02)

    async def _ask(self, call_id: str, target: str) -> None:
        for _ in range(50):                     # the ACD hears of the answer a moment after the PBX
            try:
                await self.runtime.acd.request_transfer(call_id, target)
                self.asked[call_id] = (target, time.monotonic())
                return
            except AcdError:
                await asyncio.sleep(0.02)
        self.refused += 1


async def one_pass(args, share: float) -> dict:
    secret = os.urandom(12).hex()
    os.environ["IVR_PBX_SECRET"] = secret
    records = tempfile.NamedTemporaryFile(prefix="bench-transfer-", suffix=".jsonl", delete=False).name
    pbx = PbxProcess("--speed", str(args.speed), "--load-calls", str(args.calls), "--load-rate", str(args.rate),
                     "--load-after-login", "--talk-mean", str(args.talk_mean), "--ring-mean", "2",
                     # the outside line answers after 2 s and talks as long as an agent would
                     "--agent", f"Local/{OUTSIDE}@hotline-out=answer:2:{args.talk_mean}",
                     "--records", records)
    host, port = await pbx.start()
    runtime = await bench_runtime(host, port, secret, agents=args.agents, speed=args.speed)
    cpu0, wall0 = time.process_time(), time.monotonic()
    await runtime.start()
    picker = Transferrer(runtime, share, args.seed)
    picking = asyncio.ensure_future(picker.run())
    deadline = wall0 + args.calls / args.rate / args.speed + args.drain_s
    shown = time.monotonic()
    while len(runtime.engine.finished) < args.calls and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        if args.progress and time.monotonic() - shown >= 5:
            shown = time.monotonic()
            print(f"  {len(runtime.engine.finished)} calls done, {len(runtime.engine.calls)} up, "
                  f"{len(picker.asked)} transfers asked", file=sys.stderr)
    picking.cancel()
    await asyncio.gather(picking, return_exceptions=True)
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    finished, still_up = list(runtime.engine.finished), len(runtime.engine.calls)
    await runtime.stop()
    await pbx.stop()
    with open(records, encoding="utf-8") as f:
        pbx_calls = [json.loads(line) for line in f if line.strip()]
    os.unlink(records)
    # silences from the first answer on: the IVR before it plays no sounds here (the PBX process
    # has no sound files, so its menus wait in silence) and says nothing about transfers
    silent = [c for c in pbx_calls if (c.get("max_silence_s") or 0) >= SILENCE_S
              and c.get("max_silence_at") and any(d.get("answered") and d["answered"] <= c["max_silence_at"]
                                                  for d in c.get("dials") or [])]
    if args.show_silent:
        for c in silent[:3]:
            print(json.dumps({k: c.get(k) for k in ("max_silence_s", "max_silence_at", "start", "answered", "end",
                                                      "dials", "played", "digits")}, default=str)[:1500], file=sys.stderr)
    return {"picker": picker, "finished": finished, "still_up": still_up, "cpu": cpu, "wall": wall,
            "pbx_calls": len(pbx_calls), "silent": silent}


def figures(args, base: dict | None, run: dict) -> dict:
    picker: Transferrer = run["picker"]
    by_target: dict[str, list[float]] = {}
    for call_id, (target, _) in picker.asked.items():
        if call_id in picker.rang:
            by_target.setdefault(target, []).append(picker.rang[call_id])
    every = [s for values in by_target.values() for s in values]
    lost = [r for r in run["finished"] if r.outcome in ("lost", "failed")]
    out = {
        "calls": args.calls, "rate_per_s": args.rate, "share": args.share, "agents": args.agents, "speed": args.speed,
        "transfers_asked": len(picker.asked), "refused": picker.refused,
        "target_rang": len(every),
        "request_to_ringing_ms_p50": None if not every else round(1000 * percentile(every, 0.5), 1),
        "request_to_ringing_ms_p99": None if not every else round(1000 * percentile(every, 0.99), 1),
        "by_target_ms_p50": {t: round(1000 * percentile(v, 0.5), 1) for t, v in sorted(by_target.items())},
        "finished": len(run["finished"]), "pbx_calls_ended": run["pbx_calls"],
        "lost_or_failed": len(lost), "still_up_at_end": run["still_up"],
        f"silent_{SILENCE_S:g}s_or_more_after_an_answer": len(run["silent"]),
        "engine_cpu_s": round(run["cpu"], 2), "engine_ms_per_call": round(1000 * run["cpu"] / max(1, args.calls), 2),
        "wall_s": round(run["wall"], 1),
    }
    if base is not None and picker.asked:
        out["baseline_engine_cpu_s"] = round(base["cpu"], 2)
        out["engine_ms_per_transfer"] = round(1000 * (run["cpu"] - base["cpu"]) / len(picker.asked), 2)
    return out


async def main(args) -> dict:
    base = await one_pass(args, 0.0) if args.baseline else None
    run = await one_pass(args, args.share)
    return figures(args, base, run)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--rate", type=float, default=20.0, help="new calls a second (PBX time)")
    parser.add_argument("--share", type=float, default=0.3, help="share of answered calls transferred")
    parser.add_argument("--agents", type=int, default=120)
    parser.add_argument("--talk-mean", type=float, default=20.0, help="seconds (PBX time)")
    parser.add_argument("--speed", type=float, default=1.0, help="PBX time factor")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drain-s", type=float, default=240.0, help="wall seconds allowed after the last arrival")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--show-silent", action="store_true", help="print the first silent callers' records")
    parser.add_argument("--no-baseline", dest="baseline", action="store_false",
                        help="skip the pass with no transfers (no CPU per transfer then)")
    args = parser.parse_args()
    log.setup("critical")      # the PBX process has no sound files: every prompt is "missing"
    print(json.dumps(asyncio.run(main(args)), indent=2, ensure_ascii=False))
