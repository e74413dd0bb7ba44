"""YAML that remembers where every key and value came from, and refuses hostile files.

PyYAML's plain loader forgets positions, silently keeps the last of two equal
keys (two menu entries for key 1 would hide each other) and reads ``0431`` as
an octal number.  Flows need all three right, so documents are built here from
the parser's event stream into plain data plus a table of positions and source
texts.

Flow files are edited under a live engine, so a file must not be able to cost
more than a real flow ever does.  The build is iterative and refuses, as one
problem at the spot: aliases that repeat more than ``MAX_ALIAS_VALUES`` values
in all (a "billion laughs" file is a few hundred bytes that expand to billions),
nesting deeper than ``MAX_DEPTH`` (the parser itself slows with depth), files
over ``MAX_BYTES``, and anything that is not a regular file (a FIFO would block
the reader forever).
"""

from __future__ import annotations

import copy
import os
import stat
from dataclasses import dataclass, field
from typing import Any, Callable

import yaml

from hotline.problems import Problem

Path = tuple

MAX_BYTES = 256 * 1024        # the largest shipped file is about 5 KB
MAX_DEPTH = 50                # a flow nests about 8 levels (nodes > node > branch > case > if > var > list)
MAX_ALIAS_VALUES = 10_000     # values that aliases may repeat, in all, per file
_CHECK_EVERY = 512            # events between two looks at the stop flag


class Stopped(Exception):
    """The caller gave up on this load (a reload past its time limit)."""


@dataclass(frozen=True, slots=True)
class Mark:
    line: int  # 1-based
    col: int   # 1-based


@dataclass
class Doc:
    """Plain data of one YAML file with the position of every value and key."""

    file: str
    data: Any
    values: dict[Path, Mark] = field(default_factory=dict)
    keys: dict[Path, Mark] = field(default_factory=dict)
    raw: dict[Path, str] = field(default_factory=dict)  # source text of plain scalars
    problems: list[Problem] = field(default_factory=list)

    def at(self, path: Path) -> Mark:
        """Position of the value at ``path``, or of its nearest known parent."""
        path = tuple(path)
        while path:
            if path in self.values:
                return self.values[path]
            path = path[:-1]
        return self.values.get((), Mark(1, 1))

    def key_at(self, path: Path) -> Mark:
        path = tuple(path)
        return self.keys.get(path) or self.at(path)

    def problem(self, path: Path, message: str, severity: str = "error", *, on_key: bool = False) -> Problem:
        mark = self.key_at(path) if on_key else self.at(path)
        return Problem(self.file, mark.line, mark.col, message, severity)


class _Refused(Exception):
    def __init__(self, mark: Mark, message: str):
        super().__init__(message)
        self.mark = mark
        self.message = message


def _mark(event) -> Mark:
    return Mark(event.start_mark.line + 1, event.start_mark.column + 1)


_NO_KEY = object()     # a mapping waiting for its next key
_SKIP = object()       # the value after a refused key is dropped with it


@dataclass
class _Open:
    """A sequence or mapping whose end event has not come yet."""
    kind: str                  # "seq" | "map"
    path: Path
    value: Any                 # list or dict; None while dropped
    mark: Mark
    anchor: str | None
    log_start: int
    size: int = 1              # values in it, itself included, aliases expanded
    height: int = 1
    key: Any = _NO_KEY
    first: dict = field(default_factory=dict)   # key -> Mark of its first use


@dataclass
class _Anchored:
    value: Any
    text: str | None           # source text when the anchored value is a scalar
    plain: bool                # ...written plain (its text is kept in ``Doc.raw``)
    path: Path
    log: tuple[int, int]       # the positions inside it, as a slice of the position log
    size: int
    height: int


class _Builder:
    """Events in, plain data and positions out, with no recursion and bounded expansion."""

    def __init__(self, doc: Doc, stop: Callable[[], bool] | None):
        self.doc = doc
        self.stop = stop
        self.stack: list[_Open] = []
        self.log: list[tuple[str, Path, Any]] = []   # ("v"|"k"|"r", path, mark or text), in document order
        self.anchors: dict[str, _Anchored] = {}
        self.anchor_lines: dict[str, int] = {}
        self.dropped: set[str] = set()               # anchors on values refused with their key
        self.expanded = 0
        self.resolver = yaml.resolver.Resolver()
        self.constructor = yaml.constructor.SafeConstructor()
        self.documents = 0
        self.root: Any = None

    # ---- bookkeeping

    def note(self, kind: str, path: Path, what) -> None:
        self.log.append((kind, path, what))
        table = {"v": self.doc.values, "k": self.doc.keys, "r": self.doc.raw}[kind]
        table[path] = what

    def problem(self, mark: Mark, message: str) -> None:
        self.doc.problems.append(Problem(self.doc.file, mark.line, mark.col, message))

    def slot(self) -> tuple[Path, str, bool]:
        """(path, role, dropped) of the next value: where it will sit in the data."""
        if not self.stack:
            return (), "value", False
        parent = self.stack[-1]
        dropped = parent.value is None
        if parent.kind == "seq":
            return parent.path + (0 if dropped else len(parent.value),), "value", dropped
        if parent.key is _NO_KEY:
            return parent.path, "key", dropped
        if parent.key is _SKIP:
            return parent.path, "value", True
        return parent.path + (parent.key,), "value", dropped

    def define(self, anchor: str | None, mark: Mark) -> None:
        if anchor is None:
            return
        if anchor in self.anchor_lines:
            raise _Refused(mark, f"anchor '&{anchor}' is defined twice (first at line {self.anchor_lines[anchor]})")
        self.anchor_lines[anchor] = mark.line

    # ---- events

    def feed(self, events) -> None:
        for n, event in enumerate(events):
            if self.stop is not None and n % _CHECK_EVERY == 0 and self.stop():
                raise Stopped()
            if isinstance(event, yaml.DocumentStartEvent):
                self.documents += 1
                if self.documents > 1:
                    raise _Refused(_mark(event), "only one document per file: a second one starts here")
            elif isinstance(event, yaml.ScalarEvent):
                self.scalar(event)
            elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
                self.open(event)
            elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                self.close()
            elif isinstance(event, yaml.AliasEvent):
                self.alias(event)

    def open(self, event) -> None:
        mark = _mark(event)
        if len(self.stack) >= MAX_DEPTH:
            raise _Refused(mark, f"nested more than {MAX_DEPTH} levels deep: refused (no flow needs that)")
        path, role, dropped = self.slot()
        self.define(event.anchor, mark)
        kind = "seq" if isinstance(event, yaml.SequenceStartEvent) else "map"
        dropped = dropped or role == "key"      # a list or mapping as a key is refused when it closes
        if not dropped:
            self.note("v", path, mark)
        value = None if dropped else ([] if kind == "seq" else {})
        self.stack.append(_Open(kind, path, value, mark, event.anchor, len(self.log)))

    def close(self) -> None:
        done = self.stack.pop()
        if done.anchor is not None:
            if done.value is None:
                self.dropped.add(done.anchor)
            else:
                self.anchors[done.anchor] = _Anchored(done.value, None, False, done.path,
                                                      (done.log_start, len(self.log)), done.size, done.height)
        self.place(done.value, None, done.mark, done.size, done.height)

    def scalar(self, event) -> None:
        mark = _mark(event)
        path, role, dropped = self.slot()
        self.define(event.anchor, mark)
        plain = event.style is None
        value = self.construct(event)
        if role == "value" and not dropped:
            self.note("v", path, mark)
            if plain:
                self.note("r", path, event.value)
        if event.anchor is not None:
            self.anchors[event.anchor] = _Anchored(value, event.value, plain, path, (0, 0), 1, 1)
        self.place(value, event.value, mark, 1, 1)

    def construct(self, event):
        tag = event.tag
        if tag is None or tag == "!":
            tag = self.resolver.resolve(yaml.ScalarNode, event.value, event.implicit)
        node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, style=event.style)
        try:
            return self.constructor.construct_object(node, deep=True)
        except Exception:   # e.g. 2026-13-01 looks like a date but is none, !!binary x: keep the text
            return event.value

    def alias(self, event) -> None:
        mark = _mark(event)
        name = event.anchor
        target = self.anchors.get(name)
        if target is None:
            if any(o.anchor == name for o in self.stack):
                raise _Refused(mark, f"alias '*{name}' is inside the value it names: it would never end")
            if name in self.dropped:
                raise _Refused(mark, f"alias '*{name}' names a value refused above")
            raise _Refused(mark, f"alias '*{name}' has no anchor '&{name}' before it")
        self.expanded += target.size
        if self.expanded > MAX_ALIAS_VALUES:
            raise _Refused(mark, f"aliases repeat more than {MAX_ALIAS_VALUES} values in all (at '*{name}'): "
                                 "refused, as a 'billion laughs' file would be")
        if len(self.stack) + target.height > MAX_DEPTH:
            raise _Refused(mark, f"alias '*{name}' nests the document more than {MAX_DEPTH} levels deep: refused")
        path, role, dropped = self.slot()
        if role == "value" and not dropped:
            self.note("v", path, mark)
            start, end = target.log
            cut = len(target.path)
            for kind, old, what in self.log[start:end]:
                self.note(kind, path + old[cut:], what)
            if target.plain:
                self.note("r", path, target.text)
        self.place(copy.deepcopy(target.value), target.text, mark, target.size, target.height)

    def place(self, value, text: str | None, mark: Mark, size: int, height: int) -> None:
        """Hang a finished value on its parent (or make it the root).  ``text``: a scalar's source."""
        if not self.stack:
            self.root = value
            return
        parent = self.stack[-1]
        parent.size += size
        parent.height = max(parent.height, height + 1)
        if parent.kind == "seq":
            if parent.value is not None:
                parent.value.append(value)
            return
        if parent.key is _NO_KEY:
            if text is None:
                self.problem(mark, "a key must be a plain word or number")
                parent.key = _SKIP
                return
            if text in parent.first:
                self.problem(mark, f"duplicate key '{text}' (first at line {parent.first[text].line}); "
                                   "the later one would hide the first")
                parent.key = _SKIP
                return
            parent.first[text] = mark
            if parent.value is not None:
                self.note("k", parent.path + (text,), mark)
            parent.key = text
            return
        if parent.key is not _SKIP and parent.value is not None:
            parent.value[parent.key] = value
        parent.key = _NO_KEY


def load_text(text: str, file: str, *, stop: Callable[[], bool] | None = None) -> Doc:
    """Parse ``text``; a syntax error or a refused file becomes a problem with its line, never an exception."""
    doc = Doc(file=file, data=None)
    builder = _Builder(doc, stop)
    try:
        builder.feed(yaml.parse(text, Loader=yaml.SafeLoader))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        return _failed(file, line, col, f"YAML syntax: {what}")
    except _Refused as exc:
        return _failed(file, exc.mark.line, exc.mark.col, exc.message)
    except RecursionError:    # not expected (the build is iterative); never a traceback for a file
        return _failed(file, 1, 1, "too deeply nested: refused")
    doc.data = builder.root
    doc.values.setdefault((), Mark(1, 1))
    return doc


def _failed(file: str, line: int, col: int, message: str) -> Doc:
    doc = Doc(file=file, data=None)
    doc.problems.append(Problem(file, line, col, message))
    return doc


class Unreadable(Exception):
    """A file that is not loaded: not a regular file, too big, unreadable.  ``str()`` says why."""


def read_limited(path, limit: int = MAX_BYTES) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes.  Never blocks on a FIFO or a
    device (opened non-blocking, checked after opening) and never reads past the limit."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0))
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise Unreadable("not a regular file: refused")
        if st.st_size > limit:
            raise Unreadable(f"{st.st_size} bytes is over the limit of {limit} bytes for one file: refused")
        chunks, total = [], 0
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            total += len(chunk)
            if total > limit:    # grew while being read
                raise Unreadable(f"over the limit of {limit} bytes for one file: refused")
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    finally:
        os.close(fd)


def load_file(path, *, stop: Callable[[], bool] | None = None) -> Doc:
    try:
        data = read_limited(path)
    except Unreadable as exc:
        return _failed(str(path), 1, 1, str(exc))
    return load_bytes(data, str(path), stop=stop)


def load_bytes(data: bytes, file: str, *, stop: Callable[[], bool] | None = None) -> Doc:
    """Decode as UTF-8, then parse; a bad byte is a problem at its own line and column."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, col = byte_position(data, exc.start)
        return _failed(file, line, col, f"not UTF-8 text (byte 0x{data[exc.start]:02x}: {exc.reason}); "
                                        "save the file as UTF-8")
    return load_text(text, file, stop=stop)


def byte_position(data: bytes, offset: int) -> tuple[int, int]:
    """Line and column (1-based, in characters like YAML's marks) of the byte at ``offset``."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, len(data[start:offset].decode("utf-8", "replace")) + 1
