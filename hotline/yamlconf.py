"""Every config file read once, checked against a typed model, and its mistakes named by FILE:LINE:COL.

centers.yaml is wanted by the seat planner and the flow checker, acd.yaml by
the ACD and the flow checker; a long-running engine asks again on every reload.
So a file is parsed once per process and parsed again only when its inode,
mtime or size changes.  Parsing keeps the position of every key and value
(:mod:`hotline.yamlpos`), so a value that fails its model is reported where
it is written, not where its section starts: the engineer's editor jumps there.

A model's first mistake in file order becomes one line, ``FILE:LINE:COL: what
is wrong``, phrased for whoever staffs the hotline, never pydantic's dump.
Cached documents are shared: readers must not change their data.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import pathlib
import threading
import types
import typing
from collections import Counter
from typing import Any, Callable

import pydantic
import typing_extensions
from pydantic import TypeAdapter, ValidationError

from hotline.errors import UserError
from hotline.problems import Problem
from hotline.yamlpos import Doc, Unreadable, load_bytes, load_text, read_limited

_lock = threading.Lock()
_cache: dict[str, tuple[tuple, Doc]] = {}
#: How often each file (resolved path) was parsed in this process: the cache's own account.
parses: Counter[str] = Counter()


def document(path: str | os.PathLike, *, stop: Callable[[], bool] | None = None) -> Doc:
    """The parsed file, its problems listed and never raised (the flow checker's way).

    A file that cannot be read is a problem at 1:1 and is not cached: it may appear soon.
    """
    try:
        return _cached(path, stop)
    except Unreadable as exc:
        doc = Doc(file=str(path), data=None)
        doc.problems.append(Problem(str(path), 1, 1, str(exc)))
        return doc


def _cached(path, stop) -> Doc:
    name = str(path)
    try:
        st = os.stat(path)
        key = str(pathlib.Path(path).resolve())
    except OSError as exc:
        raise Unreadable(f"cannot read: {exc.strerror}") from None
    stamp = (st.st_dev, st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)
    with _lock:
        hit = _cache.get(key)
    if hit is None or hit[0] != stamp:
        doc = load_bytes(read_limited(path), name, stop=stop)
        with _lock:
            parses[key] += 1
            _cache[key] = hit = (stamp, doc)
    doc = hit[1]
    if doc.file == name:
        return doc
    # The same file by another name (relative, through a link): same data, problems under this name.
    return dataclasses.replace(doc, file=name, problems=[dataclasses.replace(p, file=name) for p in doc.problems])


def read(path: str | os.PathLike, error: type[UserError] = UserError) -> Doc:
    """The parsed file for a loader: its first problem, or an empty file, raised as ``error``."""
    try:
        return _usable(_cached(path, None), error)
    except Unreadable as exc:
        raise error(str(exc), where=str(path)) from None


def parse_text(text: str, source: str, error: type[UserError] = UserError) -> Doc:
    """Text that is no file (tests, a config given inline): parsed the same way, not cached."""
    return _usable(load_text(text, source), error)


def _usable(doc: Doc, error: type[UserError]) -> Doc:
    if doc.problems:
        first = doc.problems[0]
        raise error(first.message, where=f"{first.file}:{first.line}:{first.col}")
    if doc.data is None:
        raise error("the file is empty: it holds no settings", where=f"{doc.file}:1:1")
    return doc


def clear() -> None:
    """Forget every cached file (tests that count parses start from nothing)."""
    with _lock:
        _cache.clear()
        parses.clear()


# ---- positions ---------------------------------------------------------------------------------

def where(doc: Doc, path, *, on_key: bool = False) -> str:
    """``FILE:LINE:COL`` of the value (or key) at ``path``; just ``FILE`` for data that came from no file."""
    if not doc.values:
        return doc.file
    mark = doc.key_at(tuple(path)) if on_key else doc.at(tuple(path))
    return f"{doc.file}:{mark.line}:{mark.col}"


def fail(doc: Doc, path, message: str, error: type[UserError] = UserError, *, on_key: bool = False) -> UserError:
    """A mistake found after validation (a name used but not defined, a duplicate), at its spot."""
    return error(message, where=where(doc, path, on_key=on_key))


def label(data: Any, path) -> str:
    """``redis.port``, ``queues[jilin].escalation[2].after_s``: list items by their id, else counted from 1."""
    out, node = "", data
    for part in path:
        if isinstance(part, int):
            item = node[part] if isinstance(node, list) and 0 <= part < len(node) else None
            ident = item.get("id") if isinstance(item, dict) else None
            out += f"[{ident}]" if isinstance(ident, (str, int)) and not isinstance(ident, bool) else f"[{part + 1}]"
            node = item
        else:
            out += f".{part}" if out else str(part)
            node = node.get(part) if isinstance(node, dict) else None
    return out


def show(value: Any) -> str:
    """A value as the file spells it, short; a secret never reaches here (its key is refused first)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        text = value if len(value) <= 40 else value[:37] + "..."
        return repr(text)
    return str(value)


# ---- validation --------------------------------------------------------------------------------

@functools.cache
def _adapter(kind) -> TypeAdapter:
    return TypeAdapter(kind)


def validate(kind, doc: Doc, base=(), *, data: Any = dataclasses.MISSING, error: type[UserError] = UserError):
    """``data`` (by default the document's value at ``base``) as a ``kind``; the first mistake in file order raised."""
    base = tuple(base)
    if data is dataclasses.MISSING:
        data = doc.data
        for part in base:
            data = data[part]
    try:
        return _adapter(kind).validate_python(data)
    except ValidationError as exc:
        found = [_locate(doc, data, base, e) for e in exc.errors(include_url=False)]
        path, on_key, err = min(found, key=lambda f: _order(doc, f[0], f[1]))
        raise error(_sentence(kind, doc, path, base, err), where=where(doc, path, on_key=on_key)) from None


def _order(doc: Doc, path, on_key: bool) -> tuple[int, int]:
    mark = doc.key_at(path) if on_key else doc.at(path)
    return mark.line, mark.col


def _locate(doc: Doc, data: Any, base: tuple, err: dict) -> tuple[tuple, bool, dict]:
    """The document path of an error's value: pydantic's loc, minus union tags and such."""
    path, node, on_key = list(base), data, err["type"] in _UNKNOWN
    for part in err["loc"]:
        if part == "[key]":
            on_key = True
            break
        if isinstance(node, dict) and part in node or isinstance(node, list) and isinstance(part, int) \
                and 0 <= part < len(node):
            path.append(part)
            node = node[part]
        elif err["type"] == "missing" and part == err["loc"][-1]:
            path.append(part)
    return tuple(path), on_key, err


_UNKNOWN = {"extra_forbidden", "unexpected_keyword_argument"}
_MAPPING = {"dict_type", "model_type", "dataclass_type", "model_attributes_type", "dataclass_args_type"}
_PHRASES = {"bool_type": "must be true or false", "bool_parsing": "must be true or false",
            "string_type": "must be text", "list_type": "must be a list",
            **{t: "must be a mapping of 'key: value' lines" for t in _MAPPING}}


def _sentence(kind, doc: Doc, path: tuple, base: tuple, err: dict) -> str:
    what = label(doc.data, path) or "the file"
    kind_of_error, value = err["type"], err.get("input")
    if kind_of_error in _UNKNOWN:
        known = _known_keys(kind, path[len(base):-1])
        return f"unknown key '{what}'" + (f" (known: {', '.join(known)})" if known else "")
    if kind_of_error == "missing":
        return f"{what} is missing"
    if kind_of_error == "literal_error" and "[key]" in err["loc"]:
        return f"{label(doc.data, path[:-1]) or 'the file'}: {show(value)} is not one of {err['ctx']['expected']}"
    if kind_of_error == "too_short":
        return f"{what} must not be empty"
    if kind_of_error == "literal_error":
        return f"{what} must be one of {err['ctx']['expected']}, not {show(value)}"
    if kind_of_error == "hotline":
        return f"{what} {err['msg']}, not {show(value)}"
    if kind_of_error == "hotline_say":
        return f"{what}: {err['msg']}"
    if kind_of_error in _PHRASES:
        return f"{what} {_PHRASES[kind_of_error]}, not {show(value)}"
    return f"{what}: {err['msg']}"


def _known_keys(kind, loc) -> list[str]:
    """The keys a mapping at ``loc`` (inside ``kind``) may have, for the unknown-key message."""
    tp = kind
    for part in loc:
        tp = _inner(tp, part)
        if tp is None:
            return []
    fields = _field_types(_bare(tp))
    return list(fields) if fields else []


def _inner(tp, part):
    tp = _bare(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if isinstance(part, int):
        return args[0] if origin is list and args else None
    if origin is dict and args:
        return args[1]
    return (_field_types(tp) or {}).get(part)


def _bare(tp):
    """The type under Annotated[...] and Optional[...]."""
    while True:
        origin = typing.get_origin(tp)
        if origin is typing.Annotated:
            tp = typing.get_args(tp)[0]
        elif origin in (typing.Union, types.UnionType):
            tp = next(a for a in typing.get_args(tp) if a is not type(None))
        else:
            return tp


def _field_types(tp) -> dict | None:
    if isinstance(tp, type) and issubclass(tp, pydantic.BaseModel):
        return {name: f.annotation if not f.metadata else typing.Annotated[(f.annotation, *f.metadata)]
                for name, f in tp.model_fields.items()}
    if dataclasses.is_dataclass(tp) or typing_extensions.is_typeddict(tp):
        hints = typing.get_type_hints(tp, include_extras=True)
        names = [f.name for f in dataclasses.fields(tp) if f.init] if dataclasses.is_dataclass(tp) else hints
        return {name: hints[name] for name in names}
    return None
