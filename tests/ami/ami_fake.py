"""A scripted AMI peer on 127.0.0.1 for the link's tests.

It is a real TCP server (port 0): the link under test goes through real
sockets, real reads of whatever size the kernel hands over.  Behaviour is
decided per action by ``handler(conn, msg)``; the default answers Login, Events,
Filter, Ping and Logoff the way the recorded Asterisk does.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import random
import re
from dataclasses import dataclass, field

from ivr.ami.link import AmiLink
from ivr.ami.protocol import Message, Parser, encode

BANNER = b"Asterisk Call Manager/13.0.0\r\n"
SECRET = "s3cret-for-tests"


def answer(msg: Message, **headers) -> bytes:
    pairs = [("Response", headers.pop("Response", "Success")), ("ActionID", msg.action_id)]
    pairs += list(headers.items())
    return encode(pairs)


def make_link(port: int, secret: str = SECRET, **kw) -> AmiLink:
    """A link tuned for tests: no pings unless asked, short backoff, seeded jitter."""
    kw.setdefault("ping_interval", None)
    kw.setdefault("action_timeout", 5)
    kw.setdefault("backoff_initial", 0.01)
    kw.setdefault("backoff_max", 0.05)
    return AmiLink("127.0.0.1", port, "hotline", secret, rng=random.Random(0), **kw)


def default_answer(msg: Message) -> bytes | None:
    name = (msg.action or "").lower()
    if name == "login":
        if msg.get("Secret") != SECRET:
            return answer(msg, Response="Error", Message="Authentication failed")
        return answer(msg, Message="Authentication accepted")
    if name == "events":
        return answer(msg, Events="On")
    if name == "filter":
        return answer(msg, Message="Success")
    if name == "ping":
        return answer(msg, Ping="Pong", Timestamp="1795757803.698403")
    if name == "logoff":
        return answer(msg, Response="Goodbye", Message="Thanks for all the fish.")
    return None


async def send_chunked(writer: asyncio.StreamWriter, data: bytes, rng: random.Random, *, max_chunk: int = 512) -> None:
    """Write ``data`` in random-sized pieces, many of one byte, yielding between them."""
    pos = 0
    while pos < len(data):
        size = 1 if rng.random() < 0.3 else rng.randint(1, max_chunk)
        writer.write(data[pos : pos + size])
        pos += size
        await writer.drain()
        # Two turns of the loop: the reader (same loop) gets to read this piece on its own.
        await asyncio.sleep(0)
        await asyncio.sleep(0)


@dataclass
class Conn:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    actions: list[Message] = field(default_factory=list)
    raw_in: bytearray = field(default_factory=bytearray)
    tasks: list[asyncio.Task] = field(default_factory=list)

    def send(self, data: bytes) -> None:
        if not self.writer.is_closing():
            self.writer.write(data)

    def abort(self) -> None:
        self.writer.transport.abort()


class FakeAmi:
    def __init__(self, handler=None, *, banner: bytes = BANNER):
        self.handler = handler
        self.banner = banner
        self.conns: list[Conn] = []
        self.server: asyncio.base_events.Server | None = None
        self.port = 0
        self.new_conn = asyncio.Event()

    async def __aenter__(self) -> "FakeAmi":
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        for conn in self.conns:
            for task in conn.tasks:
                task.cancel()
            conn.abort()
        self.server.close()
        await self.server.wait_closed()

    def actions(self, name: str) -> list[Message]:
        return [m for c in self.conns for m in c.actions if (m.action or "").lower() == name.lower()]

    @property
    def raw_in(self) -> bytes:
        return b"".join(bytes(c.raw_in) for c in self.conns)

    async def _serve(self, reader, writer) -> None:
        conn = Conn(reader, writer)
        self.conns.append(conn)
        self.new_conn.set()
        if self.banner:
            writer.write(self.banner)
        parser = Parser(expect_banner=False)
        try:
            while True:
                data = await reader.read(65536)
                if not data:
                    break
                conn.raw_in += data
                for msg in parser.feed(data):
                    if not isinstance(msg, Message):
                        continue
                    conn.actions.append(msg)
                    out = None
                    if self.handler is not None:
                        out = self.handler(conn, msg)
                        if asyncio.iscoroutine(out):
                            out = await out
                    if out is None:
                        out = default_answer(msg)
                    if out:
                        conn.send(out)
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            writer.close()


# --------------------------------------------------------------- captures


def load_jsonl(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def header(text: str, name: str) -> str | None:
    m = re.search(rf"^{re.escape(name)}: ?(.*?)\r?$", text, re.M | re.I)
    return m.group(1) if m else None


def rewrite_action_id(text: str, old: str, new: str) -> str:
    return re.sub(rf"^(ActionID: ){re.escape(old)}\r$", lambda m: m.group(1) + new + "\r", text, flags=re.M | re.I)


@dataclass
class Step:
    """One recorded action and every message Asterisk sent after it, up to the next action."""

    out: str
    ins: list[str]

    @property
    def action(self) -> str:
        return header(self.out, "Action") or ""

    @property
    def action_id(self) -> str:
        return header(self.out, "ActionID") or ""

    def headers(self) -> list[tuple[str, str]]:
        pairs = []
        for line in self.out.split("\r\n"):
            if not line:
                continue
            key, _, value = line.partition(": ")
            if key.lower() not in ("action", "actionid"):
                pairs.append((key, value))
        return pairs


def steps_of(records: list[dict]) -> list[Step]:
    steps: list[Step] = []
    for rec in records:
        if rec["dir"] == "out":
            steps.append(Step(rec["text"], []))
        elif steps:
            steps[-1].ins.append(rec["text"])
    return steps


class JsonlReplay:
    """Answers each action the link sends with what Asterisk answered to the same
    recorded action (next in order, same name), ActionIDs rewritten; anything not
    in the recording (the link's own Events or Filter) gets a plain Success."""

    def __init__(self, steps: list[Step], rng: random.Random):
        self.steps = steps
        self.cursor = 0
        self.rng = rng

    async def __call__(self, conn: Conn, msg: Message):
        if self.cursor < len(self.steps) and self.steps[self.cursor].action.lower() == (msg.action or "").lower():
            step = self.steps[self.cursor]
            self.cursor += 1
            text = "".join(rewrite_action_id(t, step.action_id, msg.action_id) for t in step.ins)
            await send_chunked(conn.writer, text.encode("utf-8"), self.rng)
            return b""
        if (msg.action or "").lower() == "login" and msg.get("Secret") == SECRET:
            return answer(msg, Message="Authentication accepted")
        return answer(msg, Message="Success")
