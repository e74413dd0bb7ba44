"""YAML that remembers where every key and value came from.

PyYAML's plain loader forgets positions, silently keeps the last of two equal
keys (two menu entries for key 1 would hide each other) and reads ``0431`` as
an octal number.  Flows need all three right, so documents are composed here
into plain data plus a table of positions and source texts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ivr.flows.problems import Problem

Path = tuple


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


def _mark(node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class _Composer:
    def __init__(self, doc: Doc):
        self.doc = doc
        self.constructor = yaml.constructor.SafeConstructor()

    def convert(self, node, path: Path):
        self.doc.values[path] = _mark(node)
        if isinstance(node, yaml.ScalarNode):
            if node.style is None:  # plain: keep the source text for numbers and times
                self.doc.raw[path] = node.value
            try:
                return self.constructor.construct_object(node, deep=True)
            except (yaml.constructor.ConstructorError, ValueError, OverflowError):
                return node.value   # e.g. 2026-13-01 looks like a date but is none: keep the text
        if isinstance(node, yaml.SequenceNode):
            return [self.convert(item, path + (i,)) for i, item in enumerate(node.value)]
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            first: dict[str, Mark] = {}
            for key_node, value_node in node.value:
                if not isinstance(key_node, yaml.ScalarNode):
                    m = _mark(key_node)
                    self.doc.problems.append(Problem(self.doc.file, m.line, m.col, "a key must be a plain word or number"))
                    continue
                key = str(key_node.value)
                km = _mark(key_node)
                if key in first:
                    self.doc.problems.append(Problem(
                        self.doc.file, km.line, km.col,
                        f"duplicate key '{key}' (first at line {first[key].line}); the later one would hide the first"))
                    continue
                first[key] = km
                self.doc.keys[path + (key,)] = km
                out[key] = self.convert(value_node, path + (key,))
            return out
        return None


def load_text(text: str, file: str) -> Doc:
    """Parse ``text``; a syntax error becomes a problem with its line, never an exception."""
    doc = Doc(file=file, data=None)
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        doc.problems.append(Problem(file, line, col, f"YAML syntax: {what}"))
        return doc
    if root is None:
        doc.data = None
        doc.values[()] = Mark(1, 1)
        return doc
    doc.data = _Composer(doc).convert(root, ())
    return doc


def load_file(path) -> Doc:
    import pathlib

    p = pathlib.Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        doc = Doc(file=str(path), data=None)
        doc.problems.append(Problem(str(path), 1, 1, f"not UTF-8 text ({exc.reason})"))
        return doc
    except OSError as exc:
        doc = Doc(file=str(path), data=None)
        doc.problems.append(Problem(str(path), 1, 1, f"cannot read: {exc.strerror}"))
        return doc
    return load_text(text, str(path))
