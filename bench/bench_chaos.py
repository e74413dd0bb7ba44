"""Chaos benchmark: several hundred calls through `ivr serve` while the PBX, Redis and the flows fail.

    python bench/bench_chaos.py                       # 300 calls, every fault, about 9 minutes
    python bench/bench_chaos.py --quick --json        # 80 calls, short faults, about 2 minutes
    python bench/bench_chaos.py --faults drop,kill --calls 200 --rate 2
    python bench/bench_chaos.py --faults freeze=12,drop=0.3:blackhole@40,kill@60   # lengths, modes, times

Processes, as in production: the built-in PBX (`python -m ivr.pbx --test-actions`, generating
its own callers, agents answering `Local/NNNN@agents`, one call per phone), `ivr serve`
against it (shipped flows copied to a folder it watches, every agent logged in, the ACD in a
private `redis-server` with AOF on a free port).  On a schedule printed first it injects (`--faults`, default all):

  drop            AMI cut for 0.1-5 s, the connects refused or black-holed (PbxTest DropAmi)
  kill            PBX SIGKILL; a new PBX on the same port, Uniqueids from a new range
  freeze          PBX SIGSTOP for seconds, then SIGCONT
  starve          PBX pinned to one CPU with CPU-bound neighbours of better priority
  slow            every AMI answer late by 3.5 s while events flow (PbxTest SlowAmi)
  redis-restart   Redis SHUTDOWN and started again (AOF keeps the data)
  redis-oom       maxmemory below what Redis holds, noeviction, for 5 s
  redis-stall     DEBUG SLEEP
  flow-broken     a syntax error written over a watched flow file, then put back
  flow-bomb       a YAML alias bomb dropped into the flows folder, then removed
  refuse-callback every callback Originate refused for 15 s (OriginateResponse Failure reason 0,
                  then Response: Error), from the moment a callback is due; right after the
                  kill when there is one (its cut-off callers are called back a few seconds later)

Faults run one at a time, at least 4 s apart.  Then, once the PBX, the engine and the ACD
are quiet (or `--settle-s` after the load), it reads the three witnesses (bench/chaos_tally.py)
and prints: calls offered, ended by kind and reason, stuck, disagreeing, agents in a wrong
state or on two calls at once, the longest silence a caller heard (PBX records' max_silence_s,
with the faults it overlapped), what the engine logged during each fault, each problem with
its evidence; `--json` for JSON.  Exit status 1 when anything is stuck, disagreeing or wrong.
The logs and the ACD's data stay in the work folder printed at the end.  Not modelled: a
frozen or starved PBX still counts a prompt it should have been playing as heard.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pathlib
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
sys.path.insert(0, os.path.dirname(__file__))

from chaos_faults import FAULTS, Chaos, Fault, fault_spec, schedule  # noqa: E402
from chaos_rig import ROOT, Control, EngineProcess, PbxLives, RedisServer, acd_cli  # noqa: E402
from chaos_tally import tally  # noqa: E402

PREFIX = "{hotline}:"
DIDS = ("12345",)


@dataclass
class Options:
    calls: int = 300
    rate: float = 1.5
    speed: float = 1.0
    talk_mean: float = 6.0
    patience_mean: float = 40.0
    seed: int = 1
    faults: list[str] = field(default_factory=lambda: list(FAULTS))
    quick: bool = False
    settle_s: float = 240.0
    workdir: str | None = None


def parse(argv: list[str] | None = None) -> tuple[Options, bool]:
    p = argparse.ArgumentParser(prog="bench_chaos.py", description=__doc__.split("\n\n")[0])
    p.add_argument("--calls", type=int, help="callers the PBX generates (default 300; --quick 80)")
    p.add_argument("--rate", type=float, help="callers per second (default 1.5; --quick 2)")
    p.add_argument("--speed", type=float, default=1.0, help="the PBX's time factor (prompts, talk, patience)")
    p.add_argument("--talk-mean", type=float, default=6.0, help="mean talk time, PBX seconds")
    p.add_argument("--patience-mean", type=float, default=40.0, help="mean patience on hold, PBX seconds")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--faults", default="all",
                   help=f"comma list of: {', '.join(FAULTS)} (or all, none); NAME=SECONDS[:MODE] for one "
                        "fault of that length instead of the usual ones, NAME@AT to run it AT seconds after "
                        "the first login, e.g. freeze=12,drop=0.3:blackhole@40,kill@60")
    p.add_argument("--quick", action="store_true", help="fewer calls, shorter faults")
    p.add_argument("--settle-s", type=float, help="after the load, how long calls may take to end (default 240)")
    p.add_argument("--workdir", help="keep everything here (default: a new temporary folder)")
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    a = p.parse_args(argv)
    names = list(FAULTS) if a.faults == "all" else [] if a.faults == "none" else [f.strip() for f in a.faults.split(",")]
    unknown = [n for n in names if n.split("@")[0].split("=")[0] not in FAULTS]
    if unknown:
        p.error(f"--faults: unknown {', '.join(unknown)} (known: {', '.join(FAULTS)})")
    for n in names:
        try:
            fault_spec(n)
        except ValueError as exc:
            p.error(f"--faults: {n}: {exc}")
    for flag in ("calls", "rate", "settle_s"):
        v = getattr(a, flag)
        if v is not None and v <= 0:
            p.error(f"--{flag.replace('_', '-')} must be positive")
    opts = Options(calls=a.calls or (80 if a.quick else 300), rate=a.rate or (2.0 if a.quick else 1.5),
                   speed=a.speed, talk_mean=a.talk_mean, patience_mean=a.patience_mean, seed=a.seed,
                   faults=names, quick=a.quick, settle_s=a.settle_s or (120.0 if a.quick else 240.0),
                   workdir=a.workdir)
    return opts, a.json


def prepare(work, redis_port: int) -> dict:
    """The flows (copied: the benchmark edits them), the ACD settings for this Redis, the prompts."""
    import yaml

    from ivr.flows.audio_len import sound_lengths
    from ivr.flows.registry import FlowRegistry

    flows = work / "flows"
    shutil.copytree(ROOT / "flows", flows)
    cfg = yaml.safe_load((ROOT / "config" / "acd.yaml").read_text(encoding="utf-8"))
    cfg["redis"]["port"] = redis_port
    cfg["defaults"]["wrapup_s"] = 2            # keep agents cycling: several hundred calls in minutes
    cfg["callbacks"].update(delay_s=5, retry_s=10)
    queues = [q["id"] for q in cfg["queues"]]
    for agent in cfg["agents"]:                # every agent serves every center, with every skill
        agent["queues"] = queues
        agent["skills"] = {s: 3 for s in cfg["skills"]}
    acd_yaml = work / "acd.yaml"
    acd_yaml.write_text(yaml.safe_dump(cfg, allow_unicode=True, sort_keys=False), encoding="utf-8")
    prompts = work / "prompts.json"
    prompts.write_text(json.dumps(sound_lengths(FlowRegistry(flows, ROOT / "config").load())), encoding="utf-8")
    return {"flows": flows, "acd": acd_yaml, "prompts": prompts, "queues": queues}


async def acd_pending(redis: RedisServer) -> list[str]:
    """Calls the ACD still has waiting or offered (callback tasks included)."""
    out = []
    for key in await redis.call("KEYS", PREFIX + "wait:*") or []:
        out += await redis.call("ZRANGE", key, 0, -1) or []
    out += await redis.call("ZRANGE", PREFIX + "offers", 0, -1) or []
    return out


async def settle(control: Control, engine: EngineProcess, redis: RedisServer, until: float) -> bool:
    """Wait for quiet: no PBX channel, no call held by the engine, nothing waiting in the ACD."""
    while time.monotonic() < until:
        try:
            stats = await control.stats()
            pending = await acd_pending(redis)
        except Exception:                      # a fault's after-effects; ask again
            stats, pending = {"Channels": "?"}, ["?"]
        if stats.get("Channels") == "0" and not engine.held() and not pending:
            return True
        await asyncio.sleep(2.0)
    return False


async def read_acd(files: dict, redis: RedisServer, work: pathlib.Path) -> dict:
    """The ACD's view once quiet, as `acd` shows it and as Redis holds it (kept in ``work``)."""
    calls, out = {}, {}
    for key in await redis.call("KEYS", PREFIX + "call:*") or []:
        raw = await redis.call("GET", key)
        if isinstance(raw, str) and raw.startswith("{"):
            c = json.loads(raw)
            calls[c["call_id"]] = c
    for q in files["queues"]:
        for entry in await redis.call("ZRANGE", PREFIX + "out:" + q, 0, -1) or []:
            uid, letter, _ = entry.rsplit("|", 2)
            out.setdefault(uid, []).append(letter)
    agents = json.loads(await acd_cli(files["acd"], redis.port, "agent", "list", "--json"))
    status = json.loads(await acd_cli(files["acd"], redis.port, "status", "--json"))
    exported = await acd_cli(files["acd"], redis.port, "export", "--since", "12h", "--format", "jsonl")
    records = {r["call_id"]: r for r in map(json.loads, filter(None, exported.splitlines()))}
    (work / "acd-export.jsonl").write_text(exported, encoding="utf-8")
    (work / "acd-agents.json").write_text(json.dumps(agents, ensure_ascii=False, indent=1), encoding="utf-8")
    (work / "acd-status.json").write_text(json.dumps(status, ensure_ascii=False, indent=1), encoding="utf-8")
    (work / "acd-out.json").write_text(json.dumps(out, indent=1), encoding="utf-8")
    (work / "acd-calls.json").write_text(json.dumps(calls, ensure_ascii=False, indent=1), encoding="utf-8")
    tasks: dict[str, int] = {}
    for c in calls.values():
        if c.get("kind") == "callback":
            key = c.get("state", "?") + (f" ({c['reason'][:60]})" if c.get("reason") else "")
            tasks[key] = tasks.get(key, 0) + 1
    return {"acd_calls": calls, "acd_out": out, "agents": agents, "acd_status": status,
            "acd_records": records, "callback_tasks": tasks}


async def run(opts: Options) -> dict:
    work = pathlib.Path(opts.workdir or tempfile.mkdtemp(prefix="chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    (work / "redis").mkdir(exist_ok=True)
    redis = RedisServer(work / "redis")
    files = prepare(work, redis.port)
    secret = os.urandom(12).hex()
    os.environ["IVR_PBX_SECRET"] = secret
    records = work / "pbx-records.jsonl"
    common = ["--speed", str(opts.speed), "--seed", str(opts.seed), "--test-actions", "--records", str(records),
              "--prompts", str(files["prompts"]), "--talk-mean", str(opts.talk_mean), "--ring-mean", "1",
              "--patience-mean", str(opts.patience_mean), "--one-call-per-agent", "--log-level", "warning"]
    lives = PbxLives(common, opts.calls, opts.rate, opts.seed, work / "pbx.log")
    engine = None
    plan = schedule(opts)
    _say(f"work folder {work}")
    _say("schedule (s from the first login; 'after load' = once every caller is placed):")
    for f in plan:
        _say(f"  {f.label()}")
    control = None
    try:
        await redis.start()
        await lives.start()
        engine = EngineProcess(
            ["--host", "127.0.0.1", "--port", str(lives.port), "--flows", str(files["flows"]), "--acd-store",
             "redis", "--acd-config", str(files["acd"]), "--login-all", "--watch-flows", "1", "--drain-s", "10"],
            dict(os.environ, HOTLINE_AMI_SECRET=secret), work / "engine.log")
        await engine.start()
        await engine.wait_for("serve.started", 90)
        t0 = time.monotonic()
        control = Control("127.0.0.1", lives.port, secret)
        chaos = Chaos(lives=lives, control=control, redis=redis, flows=files["flows"], t0=t0, log=_say)
        for f in [f for f in plan if not f.after_load]:
            await chaos.at(f)
        load_end = await chaos.wait_load_end(opts.calls, timeout=opts.calls / opts.rate * 3 + 120)
        for f in [f for f in plan if f.after_load]:
            await chaos.at(f, base=load_end)
        quiet = await settle(control, engine, redis, load_end + opts.settle_s)
        _say(f"{'quiet' if quiet else 'NOT quiet'} {time.monotonic() - load_end:.0f} s after the load")
        live = await control.live_calls()
        held = engine.held()
        pending = await acd_pending(redis)
        acd = await read_acd(files, redis, work)
        placed = lives.placed_before + int((await control.stats()).get("CallersPlaced", 0))
        refused = int((await control.stats()).get("OriginatesRefused", 0)) + chaos.refused_before
    finally:
        os.environ.pop("IVR_PBX_SECRET", None)
        if control is not None:
            control.close()
        rc = await engine.stop() if engine is not None else None
        if lives.proc is not None:
            await lives.stop()
        await redis.stop()
    pbx_records = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines() if line.strip()]
    (work / "pbx-killed.json").write_text(json.dumps(chaos.killed, ensure_ascii=False), encoding="utf-8")
    (work / "pbx-live-at-deadline.json").write_text(json.dumps(live, ensure_ascii=False), encoding="utf-8")
    verdict = tally({
        "dids": DIDS, "pbx_records": pbx_records, "killed": chaos.killed, "live_at_deadline": live,
        "engine_events": engine.events, "held_at_deadline": held, "quiet_at": time.time(),
        "acd_pending_inbound": [p for p in pending if not p.startswith("cb:")], "offered": placed,
        "fault_at": chaos.running_at, "speed": opts.speed, **acd})
    verdict["figures"].update(quiet=quiet, engine_exit=rc, originates_refused=refused,
                              acd_pending=len(pending), engine_task_failures=_last_status(engine).get("task_failures"))
    heard = [(r.get("max_silence_at"), r.get("max_silence_s") or 0.0) for r in pbx_records + chaos.killed + live]
    verdict["faults"] = chaos.evidence(engine.events, heard)
    verdict["work"] = str(work)
    verdict["options"] = {k: v for k, v in vars(opts).items()}
    return verdict


def _last_status(engine: EngineProcess) -> dict:
    for e in reversed(engine.events):
        if e.get("event") == "serve.stopped":
            return e
    return {}


def _say(text: str) -> None:
    print(f"[chaos {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)


def print_table(v: dict) -> None:
    f = v["figures"]
    rows = [("calls offered", f["offered"]), ("PBX inbound calls", f["pbx_inbound_calls"])]
    rows += [(f"  ended {k}", n) for k, n in f["ended"].items()]
    rows += [(f"    {k}", n) for k, n in f["ended_by_reason"].items()]
    rows += [(f"  answered per {k}", n) for k, n in f["answered_by_witness"].items()]
    rows += [("stuck", f["stuck"]), ("disagreeing", f["disagreeing"]), ("agents wrong", f["agents_wrong"]),
             ("agents on two calls at once", f["agents_double_booked"]),
             ("longest silence (PBX s)", f["max_silence_s"]), ("calls with silence > 5 s", f["silence_over_5s"]),
             ("calls with silence > 15 s", f["silence_over_15s"]), ("callback calls", f["callback_calls"]),
             ("callback tasks", f["callback_tasks"]), ("callback tasks failed", len(f["callback_tasks_failed"])), ("originates refused by the PBX", f["originates_refused"]),
             ("ACD still pending", f["acd_pending"]), ("quiet before the deadline", f["quiet"]),
             ("engine exit status", f["engine_exit"]), ("engine task failures", f["engine_task_failures"])]
    width = max(len(r[0]) for r in rows)
    print("\n".join(f"{k:<{width}}  {val}" for k, val in rows))
    print("\nfaults:")
    for fe in v["faults"]:
        print(f"  {fe['label']}: {fe['took_s']} s; {fe['detail']}; longest silence begun meanwhile "
              f"{fe['max_silence_s']} s")
        for line in fe["seen"]:
            print(f"      {line}")
    print("\nlongest silences (PBX s):")
    for s in f["longest_silences"]:
        print(f"  {s['seconds']:6.2f}  {s['call_id']}  during {s['during'] or '-'}; engine: {s['engine']}")
    listed = ("failed", "end_reason")
    shown = [p for p in v["problems"] if p["kind"] not in listed][:30]
    for kind in listed:                       # a few of each kind: the rest are alike (see --json)
        shown += [p for p in v["problems"] if p["kind"] == kind][:5]
    for p in shown:
        print(f"\n[{p['kind']}] {p['call_id']}: {p['detail']}\n  PBX: {p['pbx']}")
        for line in p["engine"]:
            print(f"    {line}")
    if len(v["problems"]) > len(shown):
        print(f"\n... {len(v['problems']) - len(shown)} more problems in --json")
    for a in v["agents_wrong"]:
        print(f"\n[agent] {a['agent']}: {a['why']} (pending={a['pending'] or '-'})")
    print(f"\nlogs: {v['work']}/engine.log, pbx.log, pbx-records.jsonl, pbx-killed.json, acd-*.json*")


def main(argv: list[str] | None = None) -> int:
    from hotline import log

    opts, as_json = parse(argv)
    log.setup("warning")                 # this process's own lines (the flows' check) to stderr
    verdict = asyncio.run(run(opts))
    if as_json:
        print(json.dumps(verdict, ensure_ascii=False, indent=1, default=str))
    else:
        print_table(verdict)
    f = verdict["figures"]
    return 0 if f["stuck"] == f["disagreeing"] == f["agents_wrong"] == f["agents_double_booked"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())


__all__ = ["Fault", "main", "run", "parse"]
