"""The chaos benchmark's faults: what each one does, when, and what the engine logged meanwhile.

Faults run one after the other, each at its scheduled time (or when the one before it is
over, if that is later): a problem found can then be traced to one fault.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from chaos_rig import Resp, cpu_hog

FAULTS = ("drop", "kill", "freeze", "starve", "slow", "redis-restart", "redis-oom", "redis-stall",
          "flow-broken", "flow-bomb", "refuse-callback")

BROKEN_FLOW = "flow: city\nentry: nowhere\nnodes: [unclosed\n"
ALIAS_BOMB = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
    f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))

#: Seconds left between the end of one fault and the start of the next, when they run late.
GAP_S = 4.0

#: Log events worth showing next to a fault (besides every warning and error).
NOTABLE = ("ami logged in", "resync.done", "call.taken_up", "flows.reloaded", "flows.reload_refused",
           "acd.store_back", "acd.write_landed", "serve.started")


@dataclass
class Fault:
    name: str
    params: dict = field(default_factory=dict)
    at: float = 0.0                 # seconds from the first login (or from the end of the load)
    after_load: bool = False
    started: float = 0.0            # wall clock, when it ran
    ended: float = 0.0
    detail: str = ""

    def label(self) -> str:
        where = f"after load +{self.at:.0f} s" if self.after_load else f"{self.at:6.1f} s"
        args = ", ".join(f"{k}={v}" for k, v in self.params.items())
        return f"{where}  {self.name}({args})"


#: The parameter ``NAME=SECONDS[:MODE]`` sets, per fault, and the modes it takes.
SPEC = {"drop": ("s", ("refuse", "blackhole")), "kill": ("down_s", ()), "freeze": ("s", ()),
        "starve": ("s", ()), "slow": ("s", ()), "redis-restart": ("down_s", ()), "redis-oom": ("s", ()),
        "redis-stall": ("s", ()), "flow-broken": ("s", ()), "flow-bomb": ("s", ()),
        "refuse-callback": ("s", ("failure", "error"))}


def fault_spec(text: str) -> tuple[str, dict | None, float | None]:
    """``freeze=12`` -> ("freeze", {"s": 12.0}, None); ``drop=0.3:blackhole``; ``kill@60`` -> ("kill",
    None, 60.0): at 60 s from the first login instead of its place in the shuffled schedule."""
    text, _, at_text = text.partition("@")
    at = None
    if at_text:
        try:
            at = float(at_text)
        except ValueError:
            raise ValueError(f"@{at_text!r} is not a number of seconds") from None
    name, sep, value = text.partition("=")
    if not sep:
        return name, None, at
    key, modes = SPEC[name]
    secs, _, mode = value.partition(":")
    try:
        seconds = float(secs)
    except ValueError:
        raise ValueError(f"{secs!r} is not a number of seconds") from None
    if not 0 < seconds <= 600:
        raise ValueError("seconds must be in (0, 600]")
    if mode and mode not in modes:
        raise ValueError(f"mode {mode!r}: expected one of {', '.join(modes) or 'none'}")
    params = {key: seconds}
    if modes:
        params["mode"] = mode or modes[0]
    return name, params, at


def schedule(opts) -> list[Fault]:
    """The faults asked for, spread over the load; the order drawn from the seed."""
    q = opts.quick
    menu = {
        "drop": [Fault("drop", {"s": s, "mode": m}) for s, m in
                 ([(0.3, "refuse"), (2.0, "blackhole")] if q else
                  [(0.1, "refuse"), (0.4, "blackhole"), (1.5, "refuse"), (5.0, "blackhole")])],
        "kill": [Fault("kill", {"down_s": 1.0})],
        "freeze": [Fault("freeze", {"s": 3.0 if q else 6.0})],
        "starve": [Fault("starve", {"s": 5.0 if q else 12.0, "hogs": 3})],
        "slow": [Fault("slow", {"s": 4.0 if q else 8.0, "delay_s": 3.5})],
        "redis-restart": [Fault("redis-restart", {"down_s": 1.0 if q else 2.0})],
        "redis-oom": [Fault("redis-oom", {"s": 5.0})],
        "redis-stall": [Fault("redis-stall", {"s": s}) for s in ([3.0] if q else [2.0, 5.0])],
        "flow-broken": [Fault("flow-broken", {"s": 4.0 if q else 6.0})],
        "flow-bomb": [Fault("flow-bomb", {"s": 4.0 if q else 6.0})],
    }
    window = 10.0 if q else 15.0
    menu["refuse-callback"] = [Fault("refuse-callback", {"s": window, "mode": m}) for m in ("failure", "error")]
    during, fixed = [], []
    for text in opts.faults:
        name, params, at = fault_spec(text)
        chosen = menu[name] if params is None else [Fault(name, {**menu[name][0].params, **params})]
        for f in chosen:
            f.at = at if at is not None else -1.0
        (during if at is None else fixed).extend(chosen)
    random.Random(opts.seed).shuffle(during)
    # Callbacks come in a burst a few seconds after callers were cut off: refuse them as soon
    # as the kill is over (each window still waits for a callback to be due).
    kill = next((f for f in during + fixed if f.name == "kill"), None)
    follow = [f for f in during if f.name == "refuse-callback"] if kill is not None else []
    during = [f for f in during if f not in follow]
    load_s = opts.calls / opts.rate
    for i, f in enumerate(during):
        f.at = round(load_s * (0.08 + 0.84 * i / max(1, len(during))), 1)
    for i, f in enumerate(follow):
        f.at = round(kill.at + 0.1 * (i + 1), 1)
    return sorted(during + follow + fixed, key=lambda f: f.at)


class Chaos:
    def __init__(self, *, lives, control, redis, flows, t0: float, log):
        self.lives, self.control, self.redis, self.flows = lives, control, redis, flows
        self.t0, self.log = t0, log
        self.done: list[Fault] = []
        self.killed: list[dict] = []         # the calls up when the PBX was killed, as it listed them
        self.refused_before = 0              # originates refused by the lives that were killed
        self._last_end = 0.0

    async def at(self, fault: Fault, base: float | None = None) -> None:
        when = (base if base is not None else self.t0) + fault.at
        if self.done and fault.name != "refuse-callback":   # a late fault still leaves a gap,
            when = max(when, self._last_end + GAP_S)         # so each one's effects can be told apart
        await asyncio.sleep(max(0.0, when - time.monotonic()))
        fault.started = time.time()
        self.log(f"fault {fault.label()} starts")
        try:
            fault.detail = await getattr(self, "_" + fault.name.replace("-", "_"))(**fault.params) or ""
        except Exception as exc:              # the fault itself could not be injected: say so
            fault.detail = f"could not inject: {type(exc).__name__}: {exc}"
        fault.ended = time.time()
        self._last_end = time.monotonic()
        self.log(f"fault {fault.name} over after {fault.ended - fault.started:.1f} s {fault.detail}")
        self.done.append(fault)

    async def wait_load_end(self, calls: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                placed = self.lives.placed_before + int((await self.control.stats()).get("CallersPlaced", 0))
            except Exception:
                placed = -1
            if placed >= calls:
                self.log(f"load over: {placed} callers placed")
                return time.monotonic()
            await asyncio.sleep(1.0)
        self.log("load did not finish in time")
        return time.monotonic()

    # -- the PBX -------------------------------------------------------------------------------
    async def _drop(self, s: float, mode: str) -> str:
        r = await self.control.test("DropAmi", Seconds=s, Mode=mode)
        self.control.close()
        await asyncio.sleep(s)
        return r.get("Message", "")

    async def _kill(self, down_s: float) -> str:
        stats = await self.control.stats()
        live = await self.control.live_calls()      # the last thing before the SIGKILL
        placed = int(stats.get("CallersPlaced", 0))
        self.refused_before += int(stats.get("OriginatesRefused", 0))
        at = time.time()
        self.control.close()
        await self.lives.kill_and_restart(placed, down_s)
        for rec in live:
            rec["_killed_at"] = at
        self.killed += live
        return f"{len(live)} calls up at the kill; life {self.lives.life} on port {self.lives.port}"

    async def _freeze(self, s: float) -> str:
        self.lives.proc.freeze()
        try:
            await asyncio.sleep(s)
        finally:
            self.lives.proc.thaw()
        return f"pid {self.lives.proc.pid}"

    async def _starve(self, s: float, hogs: int) -> str:
        cpus = os.sched_getaffinity(0)
        self.lives.set_cpus({0})
        procs = [cpu_hog(0) for _ in range(hogs)]
        try:
            await asyncio.sleep(s)
        finally:
            for p in procs:
                p.kill()
                p.wait()
            self.lives.set_cpus(cpus)
        return f"PBX pinned to CPU 0 with {hogs} busy neighbours (nice -5)"

    async def _slow(self, s: float, delay_s: float) -> str:
        r = await self.control.test("SlowAmi", Seconds=s, Delay=delay_s)
        await asyncio.sleep(s)
        return r.get("Message", "")

    async def _refuse_callback(self, s: float, mode: str, wait_s: float = 40.0) -> str:
        """Refuse every Originate for ``s`` seconds from just before a callback is due (waiting
        up to ``wait_s`` for one): a window with no callback in it would test nothing."""
        waited = time.monotonic()
        due = None
        while due is None and time.monotonic() - waited < wait_s:
            due = await self._next_callback_due()
            if due is None:
                await asyncio.sleep(0.5)
        if due is not None:
            await asyncio.sleep(max(0.0, due - 1.0 - time.time()))
        waited = time.monotonic() - waited
        before = int((await self.control.stats()).get("OriginatesRefused", 0))
        await self.control.test("RefuseOriginate", Seconds=s, Mode=mode)
        await asyncio.sleep(s)
        after = int((await self.control.stats()).get("OriginatesRefused", 0))
        return f"{after - before} originates refused (window opened after {waited:.1f} s waiting for a due callback)"

    async def _next_callback_due(self) -> float | None:
        """When the next callback task waiting in the ACD is due (cb:<call> for an abandon,
        <call> for a shed caller), or None."""
        r = await Resp.connect(self.redis.port)
        try:
            due = []
            for key in await r.call("KEYS", "{hotline}:call:*") or []:
                raw = await r.call("GET", key)
                if not isinstance(raw, str) or '"callback"' not in raw:
                    continue
                task = json.loads(raw)
                if task.get("kind") == "callback" and task.get("state") == "waiting":
                    due.append(float(task.get("due_at") or 0))
            return min(due) if due else None
        finally:
            r.close()

    # -- Redis ---------------------------------------------------------------------------------
    async def _redis_restart(self, down_s: float) -> str:
        await self.redis.stop()
        await asyncio.sleep(down_s)
        await self.redis.start()
        keys = await self.redis.call("DBSIZE")
        return f"back with {keys} keys"

    async def _redis_oom(self, s: float) -> str:
        info = await self.redis.call("INFO", "memory")
        used = int(next(line.split(":")[1] for line in info.splitlines() if line.startswith("used_memory:")))
        await self.redis.call("CONFIG", "SET", "maxmemory-policy", "noeviction")
        await self.redis.call("CONFIG", "SET", "maxmemory", str(max(1, used // 2)))
        try:
            await asyncio.sleep(s)
        finally:
            await self.redis.call("CONFIG", "SET", "maxmemory", "0")
        return f"maxmemory {used // 2} bytes (used {used})"

    async def _redis_stall(self, s: float) -> str:
        reply = await self.redis.call("DEBUG", "SLEEP", str(s), timeout=s + 30)
        return f"DEBUG SLEEP answered {reply}"

    # -- the flows -----------------------------------------------------------------------------
    async def _flow_broken(self, s: float) -> str:
        path = self.flows / "city.yaml"
        good = path.read_bytes()
        path.write_text(BROKEN_FLOW, encoding="utf-8")
        try:
            await asyncio.sleep(s)
        finally:
            path.write_bytes(good)
        return "city.yaml broken, then restored"

    async def _flow_bomb(self, s: float) -> str:
        path = self.flows / "bomb.yaml"
        path.write_text(ALIAS_BOMB, encoding="utf-8")
        try:
            await asyncio.sleep(s)
        finally:
            path.unlink()
        return f"bomb.yaml ({len(ALIAS_BOMB)} bytes, 9^9 strings once expanded), then removed"

    # -- what the engine logged meanwhile --------------------------------------------------------
    def running_at(self, t: float | None, seconds: float = 0.0) -> str:
        """The faults going on while a silence lasted (wall ``t`` to ``t + seconds``), else the
        last one before it."""
        if t is None:
            return ""
        over = [f.label().strip() for f in self.done if f.started <= t + seconds and f.ended >= t]
        if over:
            return " + ".join(over)
        before = [f for f in self.done if f.started <= t]
        if not before:
            return "before any fault"
        f = before[-1]
        return f"{t - f.ended:.0f} s after {f.label().strip()}"

    def evidence(self, events: list[dict], silences: list[tuple[float, float]] = (),
                 after_s: float = 15.0) -> list[dict]:
        """Warnings, errors and notable lines from each fault's start to the next one's, and the
        longest silence that began meanwhile (``silences``: (began, seconds) of each call)."""
        stamped = [(_ts(e), e) for e in events]
        out = []
        for i, f in enumerate(self.done):
            until = self.done[i + 1].started if i + 1 < len(self.done) else f.ended + after_s
            quiet = max((secs for at, secs in silences if at is not None and f.started <= at < max(until, f.ended)),
                        default=0.0)
            seen = Counter()
            for t, e in stamped:
                if t is None or not f.started <= t < max(until, f.ended):
                    continue
                if e.get("level") in ("warning", "error") or e.get("event") in NOTABLE:
                    seen[f"{e.get('level', '?')[:4]} {e.get('event')}" + _why(e)] += 1
            out.append({"label": f.label(), "took_s": round(f.ended - f.started, 1), "detail": f.detail,
                        "max_silence_s": round(quiet, 2),
                        "seen": [f"{n} x {what}" for what, n in seen.most_common(12)]})
        return out


def _ts(e: dict) -> float | None:
    try:
        return datetime.fromisoformat(e["timestamp"].replace("Z", "+00:00")).timestamp()
    except (KeyError, ValueError, AttributeError):
        return None


def _why(e: dict) -> str:
    for key in ("problem", "error", "reason"):
        if e.get(key):
            return f" ({str(e[key])[:90]})"
    return ""
