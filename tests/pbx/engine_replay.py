"""Replay a capture recorded by a *driver* session while an engine ran the calls on another.

The 2026-12-02 captures hold only the driver's session (Originate, PlayDTMF, Setvar
and the events it filtered); the AGI commands and Redirects came from an engine on
a second session.  So the replay plays both parts: the driver's actions as recorded,
and the engine's, rebuilt from what the driver saw (each AGIExecStart is an
``Action: AGI`` with the CommandId of the AsyncAGIExec that answered it; a second
AsyncAGIStart on a channel is a Redirect sent while its last command ran).

Every action waits for the message that preceded it in the recording (its trigger:
the same event, the same occurrence, on the same channel) plus the recorded gap
divided by the PBX's speed, so concurrent calls keep their causal order whatever
the machine's pace.  The result is compared channel by channel, in order.

Channel names are compared by role: ``Local/1004@agents-00000014;1`` becomes
``Local/1004@agents#1;1`` (the first pair created for 1004@agents), because the
sequence numbers depend on channels the PBX does not create (the recorded
hotline-out dialled on to ``Local/...@outside``).
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass, field
from urllib.parse import unquote

from ivr.ami.protocol import Message, parse_message

from pbx_client import Client, load_capture

_LOCAL = re.compile(r"Local/([^\s;@/]+@[^\s;/]+)-([0-9a-f]{8});([12])")
POLL_S = 0.1     # AsyncAGI's poll: a command sent at once starts within this


class Names:
    """Real channel names <-> names by role, in order of first appearance."""

    def __init__(self) -> None:
        self.seqs: dict[str, list[str]] = {}
        self.real: dict[str, str] = {}        # canonical -> real

    def canon(self, text: str) -> str:
        def one(m: re.Match) -> str:
            base, seq, leg = m.group(1), m.group(2), m.group(3)
            seen = self.seqs.setdefault(base, [])
            if seq not in seen:
                seen.append(seq)
            name = f"Local/{base}#{seen.index(seq) + 1};{leg}"
            self.real[name] = m.group(0)
            return name
        return _LOCAL.sub(one, text)


def owner(m: Message, names: Names) -> str:
    """The channel a message is about: Channel, else DestChannel (the originate's Dial)."""
    ch = m.get("Channel") or m.get("DestChannel")
    return names.canon(ch) if ch else "-"


@dataclass
class Step:
    """One action to send once message ``trigger`` (owner, name, nth) has arrived."""

    t: float
    headers: list[tuple[str, str]]
    trigger: tuple[str, str, int] | None
    delay_s: float
    role: str                              # "driver" or "engine"
    channel: str = ""                      # canonical channel an engine action is for


@dataclass
class Recording:
    entries: list[dict]
    inbound: list[tuple[float, Message, str, str, int]] = field(default_factory=list)  # t, msg, owner, name, nth
    steps: list[Step] = field(default_factory=list)


def _name(m: Message) -> str:
    return m.event or f"R:{m.response}"


def read(path) -> Recording:
    rec = Recording(load_capture(path))
    names = Names()
    counts: dict[tuple[str, str], int] = {}
    outs = []
    for e in rec.entries[1:]:
        msg = parse_message(e["text"].encode("utf-8"))
        if e["dir"] == "out":
            outs.append((e["t"], msg, len(rec.inbound)))
            continue
        own, name = owner(msg, names), _name(msg)
        n = counts.get((own, name), 0)
        counts[(own, name)] = n + 1
        rec.inbound.append((e["t"], msg, own, name, n))
    rec.steps = _driver_steps(rec, outs, names) + _engine_steps(rec)
    return rec


def _driver_steps(rec: Recording, outs, names: Names) -> list[Step]:
    steps = []
    for t, msg, before in outs:
        trigger, t0 = None, 0.0
        action = (msg.action or "").lower()
        if action == "logoff" and before:              # once everything recorded has come
            it = rec.inbound[before - 1]
            trigger, t0 = it[2:5], it[0]
        elif action == "playdtmf":                       # after what that caller last heard
            target = names.canon(msg["Channel"])
            family = {target, target[:-1] + "2"}
            for it in reversed(rec.inbound[:before]):
                if it[2] in family:
                    trigger, t0 = it[2:5], it[0]
                    break
        elif before:                                   # after the previous answer
            for it in reversed(rec.inbound[:before]):
                if it[1].response is not None:
                    trigger, t0 = it[2:5], it[0]
                    break
        steps.append(Step(t, list(msg.headers), trigger, max(t - t0, 0.0), "driver",
                          names.canon(msg.get("Channel") or "")))
    return steps


def _engine_steps(rec: Recording) -> list[Step]:
    steps = []
    by_channel: dict[str, list] = {}
    for it in rec.inbound:
        by_channel.setdefault(it[2], []).append(it)
    for ch, items in by_channel.items():
        starts = 0
        for i, (t, msg, own, name, n) in enumerate(items):
            if name == "AGIExecStart":
                answer = next(x for x in items[i + 1:] if x[3] == "AsyncAGIExec")
                prev = next(x for x in reversed(items[:i]) if x[3] in ("AsyncAGIStart", "AsyncAGIExec"))
                steps.append(Step(t, [("Action", "AGI"), ("Channel", ch), ("Command", msg["Command"]),
                                      ("CommandID", answer[1]["CommandId"])],
                                  prev[2:5], max(t - prev[0] - POLL_S, 0.0), "engine", ch))
            elif name == "AsyncAGIStart":
                starts += 1
                if starts == 1:
                    continue
                end = max(j for j in range(i) if items[j][3] == "AsyncAGIEnd")
                running = next(x for x in reversed(items[:end]) if x[3] == "AGIExecStart")
                results = [x for x in items[items.index(running):end] if x[3] == "AsyncAGIExec"]
                assert len(results) == 1, f"{ch}: a Redirect of an idle AGI session is not replayed"
                ended = items[end]
                steps.append(Step(t, [("Action", "Redirect"), ("Channel", ch), ("Context", msg["Context"]),
                                      ("Exten", msg["Exten"]), ("Priority", msg["Priority"])],
                                  running[2:5], max(ended[0] - running[0] - 0.002, 0.0), "engine", ch))
    return steps


class Tracker:
    """The driver's received messages by (owner, name, nth), as they arrive."""

    def __init__(self, client: Client):
        self.client = client
        self.names = Names()
        self.seen: set[tuple[str, str, int]] = set()
        self.items: list[tuple[Message, str, str, int]] = []
        self._counts: dict[tuple[str, str], int] = {}
        self._done = 0
        self.missed: list[tuple[str, str, int]] = []

    def update(self) -> None:
        msgs = self.client.messages
        while self._done < len(msgs):
            m = msgs[self._done]
            self._done += 1
            own, name = owner(m, self.names), _name(m)
            n = self._counts.get((own, name), 0)
            self._counts[(own, name)] = n + 1
            self.seen.add((own, name, n))
            self.items.append((m, own, name, n))

    async def until(self, trigger, timeout: float) -> bool:
        """Wait for ``trigger``; False (and noted in ``missed``) when it never comes, so the
        replay goes on and the comparison shows what differs."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        changed = self.client._changed
        while True:
            self.update()
            if trigger is None or trigger in self.seen:
                return True
            remaining = deadline - loop.time()
            if remaining <= 0 or self.client.closed.is_set():
                self.missed.append(trigger)
                return False
            changed.clear()
            try:
                await asyncio.wait_for(changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass


async def replay(pbx, recording: Recording, *, username: str, secret: str, timeout: float = 10.0):
    """Run the recording against ``pbx``; returns the driver's Tracker when all is done."""
    driver = await Client.connect(*pbx.address)
    engine = await Client.connect(*pbx.address)
    assert (await engine.action("Login", Username=username, Secret=secret, Events="off")).response == "Success"
    tracker = Tracker(driver)
    speed = pbx.speed

    async def run(step: Step, budget: float) -> None:
        await tracker.until(step.trigger, budget)
        await asyncio.sleep(step.delay_s / speed)
        headers = []
        for k, v in step.headers:
            if k == "Channel" and step.channel:
                v = tracker.names.real.get(step.channel, v)
            headers.append((k, v))
        (driver if step.role == "driver" else engine).send(headers)

    async def in_order(steps: list[Step]) -> None:
        prev_t = 0.0
        for step in steps:
            # As long as the recording took to get there, twice, and some slack.
            await run(step, timeout + 2 * (step.t - prev_t) / speed)
            prev_t = step.t

    groups: dict[str, list[Step]] = {}
    for step in sorted(recording.steps, key=lambda s: s.t):
        groups.setdefault("driver" if step.role == "driver" else step.channel, []).append(step)
    try:
        total = timeout * 3 + 2 * max(s.t for s in recording.steps) / speed
        await asyncio.wait_for(asyncio.gather(*(in_order(g) for g in groups.values())), total)
        await asyncio.wait_for(driver.closed.wait(), timeout)
        await asyncio.sleep(0.02)
    finally:
        await driver.close()
        await engine.close()
    tracker.update()
    return tracker


def decoded_result(m: Message) -> str:
    return unquote(m.get("Result") or "")
