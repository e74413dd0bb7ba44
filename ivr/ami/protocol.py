"""The AMI wire protocol with no I/O: bytes in, messages out; actions in, bytes out.

Asterisk's manager interface is a stream of ``Key: Value`` lines grouped into
messages by a blank line, preceded by one banner line.  Framing happens on bytes
and decoding only after a whole message is framed, so a UTF-8 caller name split
across two TCP reads arrives whole.  LF-only line ends and runs of extra blank
lines (both seen from various Asterisk versions) are accepted.

Both sides of the project use this module: the engine's AMI link parses what
Asterisk sends, and the built-in PBX parses what the engine sends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable, Iterator, Mapping

BANNER_PREFIX = b"Asterisk Call Manager/"
#: A message bigger than this is dropped (and reported) instead of growing the
#: buffer without bound; 100 KB header lines still fit.
DEFAULT_MAX_MESSAGE = 1 << 20

# A blank line: a line feed, an optional carriage return, another line feed.
_BLANK_LINE = re.compile(rb"\n\r?\n")
_LINE_SPLIT = re.compile(r"\r?\n")
#: Bytes a blank line may have begun in: "\n" then "\r" before the final "\n".
_BLANK_TAIL = 2


class ProtocolError(ValueError):
    """Raised for input the protocol cannot carry (e.g. CR/LF inside a value)."""


@dataclass(slots=True)
class Message:
    """One AMI message: a response, an event, or (on the PBX side) an action.

    Headers keep their order and repeats (``ChanVariable``, ``Variable`` and
    ``Output`` occur many times); lookups are case-insensitive on the first
    occurrence, because Asterisk itself spells ``CommandID`` and ``CommandId``.
    The lookup index is built on the first lookup, not at parse time: many
    messages are only asked their ``event`` (always the first header) or
    nothing at all, and building it is most of what parsing would cost.
    """

    headers: list[tuple[str, str]]
    #: Lines without a colon: the body of an old-style ``Response: Follows``.
    body: list[str] = field(default_factory=list)
    _index: dict[str, str] | None = field(default=None, repr=False, compare=False)

    def _lookup(self) -> dict[str, str]:
        index = self._index
        if index is None:
            index = {}
            for key, value in self.headers:
                lkey = key.lower()
                if lkey not in index:
                    index[lkey] = value
            self._index = index
        return index

    @classmethod
    def build(cls, first: tuple[str, str] | None = None, /, **headers: object) -> "Message":
        pairs = [first] if first else []
        pairs += [(k, "" if v is None else str(v)) for k, v in headers.items()]
        return cls(pairs)

    def get(self, name: str, default: str | None = None) -> str | None:
        return self._lookup().get(name.lower(), default)

    def __getitem__(self, name: str) -> str:
        return self._lookup()[name.lower()]

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and name.lower() in self._lookup()

    def getall(self, name: str) -> list[str]:
        lname = name.lower()
        return [v for k, v in self.headers if k.lower() == lname]

    def _first(self, name: str, lname: str) -> str | None:
        # Asterisk always puts Event, Response or Action first: answer without the index.
        headers = self.headers
        if headers and headers[0][0] == name:
            return headers[0][1]
        return self._lookup().get(lname)

    @property
    def event(self) -> str | None:
        return self._first("Event", "event")

    @property
    def response(self) -> str | None:
        return self._first("Response", "response")

    @property
    def action(self) -> str | None:
        return self._first("Action", "action")

    @property
    def action_id(self) -> str | None:
        return self._lookup().get("actionid")

    def as_dict(self) -> dict[str, str]:
        """First value of each header, original spelling (handy in tests)."""
        out: dict[str, str] = {}
        for key, value in self.headers:
            out.setdefault(key, value)
        return out


@dataclass(slots=True)
class Banner:
    """The first line Asterisk sends: ``Asterisk Call Manager/13.0.0``."""

    version: str


@dataclass(slots=True)
class Oversized:
    """A message longer than the limit was skipped; the stream carries on after it."""

    size: int


class Parser:
    """Incremental AMI framer and parser.

    ``feed(data)`` returns the banner and messages completed by ``data``.  The
    scan for the blank line resumes where the previous one stopped, so a large
    message arriving in many small reads costs linear time, not quadratic.
    """

    __slots__ = ("_buf", "_scan", "_want_banner", "max_message", "_skipping")

    def __init__(self, *, expect_banner: bool = True, max_message: int = DEFAULT_MAX_MESSAGE):
        self._buf = bytearray()
        self._scan = 0
        self._want_banner = expect_banner
        self.max_message = max_message
        self._skipping = 0

    @property
    def buffered(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes) -> list[Message | Banner | Oversized]:
        out: list[Message | Banner | Oversized] = []
        buf = self._buf
        buf += data
        if self._want_banner:
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > self.max_message:
                    self._want_banner = False
                else:
                    return out
            else:
                line = bytes(buf[:end]).rstrip(b"\r")
                if line.startswith(BANNER_PREFIX):
                    out.append(Banner(line[len(BANNER_PREFIX):].decode("utf-8", "replace")))
                    del buf[: end + 1]
                self._want_banner = False
        start = 0
        search = _BLANK_LINE.search
        scan = max(self._scan - 2, 0)
        while True:
            m = search(buf, scan)
            if m is None:
                break
            chunk = buf[start : m.start()]
            start = scan = m.end()
            if self._skipping:
                out.append(Oversized(self._skipping + len(chunk)))
                self._skipping = 0
                continue
            if len(chunk) > self.max_message:
                out.append(Oversized(len(chunk)))
                continue
            msg = parse_message(chunk)
            if msg is not None:
                out.append(msg)
        if start:
            del buf[:start]
        if len(buf) > self.max_message:
            # Drop the oversized head now and remember to discard up to the next blank line.
            # The last bytes stay: the blank line that ends the oversized message may have
            # begun in them (its first line feed here, the rest in the next read).
            keep = _BLANK_TAIL
            self._skipping += len(buf) - keep
            del buf[:-keep]
        self._scan = len(buf)
        return out


def parse_message(chunk: bytes | bytearray) -> Message | None:
    """Parse one framed message; ``None`` for a run of blank lines.

    This is the hot path of the engine's receive side: one ``decode``, one
    ``split`` and one ``partition`` a line.  Lines that are not plain
    ``Key: value`` (no space after the colon, a colon inside the key, a stray
    CR) take the careful path.
    """
    text = chunk.decode("utf-8", "replace")
    if "\r" in text:
        text = text.replace("\r\n", "\n")
        if "\r" in text.strip("\r\n"):
            return _parse_message_slow(text)
    text = text.strip("\r\n")
    if not text:
        return None
    headers: list[tuple[str, str]] = []
    append = headers.append
    for line in text.split("\n"):
        key, sep, value = line.partition(": ")
        if sep and key and " " not in key and ":" not in key:
            append((key, value))
        else:
            return _parse_message_slow(text)
    return Message(headers, [])


def _parse_message_slow(text: str) -> Message | None:
    """Body lines, keys without the usual ": ", stray CRs: the general, slower parse."""
    headers: list[tuple[str, str]] = []
    body: list[str] = []
    for line in _LINE_SPLIT.split(text):
        if not line or line == "\r":
            continue
        key, sep, value = line.partition(":")
        if sep and key and " " not in key:
            if value.startswith(" "):
                value = value[1:]
            headers.append((key, value.rstrip("\r")))
        else:
            body.append(line.rstrip("\r"))
    if not headers and not body:
        return None
    return Message(headers, body)


def iter_messages(data: bytes, *, expect_banner: bool = True) -> Iterator[Message | Banner | Oversized]:
    """Parse a whole recorded stream (a capture's ``.raw`` file)."""
    parser = Parser(expect_banner=expect_banner)
    yield from parser.feed(data)
    yield from parser.feed(b"\r\n\r\n")


def check_value(key: str, value: str) -> None:
    """Refuse anything that would let a value start a new header or action.

    A caller name, a string of digits or a channel variable comes from the
    caller; one embedded CR or LF would otherwise let them inject AMI headers.
    """
    if "\r" in value or "\n" in value:
        raise ProtocolError(f"AMI header {key!r} carries a CR or LF; refused")
    if "\r" in key or "\n" in key or ":" in key or not key:
        raise ProtocolError(f"AMI header name {key!r} is not a valid name; refused")


HeaderValues = Mapping[str, object] | Iterable[tuple[str, object]]


def encode(headers: HeaderValues) -> bytes:
    """Serialise one message (an action, or on the PBX side a response or event).

    Values may be lists for repeated headers (``Variable``).  ``None`` values are
    left out.  Raises :class:`ProtocolError` before anything is written when a
    value contains CR or LF.
    """
    items = headers.items() if isinstance(headers, Mapping) else headers
    lines: list[str] = []
    for key, value in items:
        if value is None:
            continue
        values = value if isinstance(value, (list, tuple)) else (value,)
        for v in values:
            s = v if isinstance(v, str) else str(v)
            check_value(key, s)
            lines.append(f"{key}: {s}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")


def encode_message(msg: Message) -> bytes:
    return encode(msg.headers)
