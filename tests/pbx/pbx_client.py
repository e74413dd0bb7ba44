"""A plain asyncio AMI client for the built-in PBX's tests.

The client is deliberately not the engine's AMI link: the PBX is checked
against the recordings with nothing of the engine in between.
"""

from __future__ import annotations

import asyncio
import json
import pathlib
import re

from ivr.ami.protocol import Banner, Message, Parser, encode

SECRET = "test-secret"


class Client:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        self.reader = reader
        self.writer = writer
        self.parser = Parser()
        self.banner: str | None = None
        self.messages: list[Message] = []
        self.arrived: list[float] = []          # loop time each message arrived (timing facts)
        self.sent: list[tuple[float, bytes]] = []   # loop time and bytes of each raw send
        self.closed = asyncio.Event()
        self._changed = asyncio.Event()
        self._task = asyncio.get_running_loop().create_task(self._read())

    @classmethod
    async def connect(cls, host: str, port: int) -> "Client":
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    async def _read(self) -> None:
        try:
            while True:
                data = await self.reader.read(65536)
                if not data:
                    break
                for item in self.parser.feed(data):
                    if isinstance(item, Banner):
                        self.banner = item.version
                    elif isinstance(item, Message):
                        self.messages.append(item)
                        self.arrived.append(asyncio.get_running_loop().time())
                self._changed.set()
        except ConnectionError:
            pass
        finally:
            self.closed.set()
            self._changed.set()

    def send(self, headers) -> None:
        self.writer.write(encode(headers))

    def send_raw(self, data: bytes) -> None:
        self.sent.append((asyncio.get_running_loop().time(), data))
        self.writer.write(data)

    async def wait_for(self, pred, timeout: float = 5.0, start: int = 0) -> Message:
        """First message from index ``start`` on that satisfies ``pred``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        i = start
        while True:
            while i < len(self.messages):
                if pred(self.messages[i]):
                    return self.messages[i]
                i += 1
            if self.closed.is_set():
                raise AssertionError(f"connection closed while waiting; got {[_label(m) for m in self.messages]}")
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise AssertionError(f"timed out waiting; last messages {[_label(m) for m in self.messages[-8:]]}")
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    async def action(self, name: str, timeout: float = 5.0, **headers) -> Message:
        """Send an action and return its response (matched by ActionID)."""
        aid = headers.pop("ActionID", f"t-{len(self.messages)}-{id(headers)}")
        self.send([("Action", name), ("ActionID", aid), *headers.items()])
        return await self.wait_for(lambda m: m.response is not None and m.action_id == aid, timeout)

    async def login(self, secret: str = SECRET, events: str = "on") -> Message:
        return await self.action("Login", Username="hotline", Secret=secret, Events=events)

    def events(self, name: str | None = None) -> list[Message]:
        return [m for m in self.messages if m.event and (name is None or m.event == name)]

    async def close(self) -> None:
        self.writer.close()
        try:
            await self.writer.wait_closed()
        except ConnectionError:
            pass
        self._task.cancel()


def _label(m: Message) -> str:
    return f"{'R' if m.response else 'E'}:{m.response or m.event}"


def load_capture(path: pathlib.Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def first_local_seq(entries: list[dict]) -> int:
    for e in entries:
        m = re.search(r"Local/[^\s;]*-([0-9a-f]{8});[12]", e["text"])
        if m:
            return int(m.group(1), 16)
    return 0


_cmd_seq = 0


async def agi(client: Client, channel: str, command: str, timeout: float = 5.0) -> str:
    """Run one AGI command like an engine would; returns the decoded result line."""
    from urllib.parse import unquote

    global _cmd_seq
    _cmd_seq += 1
    cid = f"cmd-{_cmd_seq}"
    start = len(client.messages)
    r = await client.action("AGI", Channel=channel, Command=command, CommandID=cid)
    if r.response != "Success":
        raise AssertionError(f"AGI {command!r} refused: {r.get('Message')}")
    ev = await client.wait_for(lambda m: m.event == "AsyncAGIExec" and m.get("CommandId") == cid,
                               timeout, start)
    return unquote(ev["Result"]).strip()


async def next_call(client: Client, start: int = 0, timeout: float = 5.0) -> Message:
    return await client.wait_for(lambda m: m.event == "AsyncAGIStart", timeout, start)
