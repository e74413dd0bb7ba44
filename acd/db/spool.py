"""The engine's journal of records not yet in the database.

Every record is appended here first, one JSON line in one ``write`` call, before
the writer tries the database: a process killed at any moment loses nothing
the page cache holds, and the database down for hours costs disk, not calls.
The offset of the first line not yet committed lives beside it (``.offset``),
replaced atomically after each commit; a crash between the database commit and
the offset write replays a batch, which the upserts make harmless.
"""

from __future__ import annotations

import fcntl
import json
import os
import pathlib
from typing import Any

#: Once everything is committed and the file is larger than this, it starts again at zero.
REWIND_BYTES = 1 << 20


class SpoolBusy(OSError):
    """Another live process holds this spool file."""


class Spool:
    def __init__(self, path: str | os.PathLike):
        self.path = pathlib.Path(path)
        self.offset_path = self.path.with_name(self.path.name + ".offset")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        except OSError as exc:
            raise OSError(f"records spool {self.path}: {exc.strerror}") from None
        try:    # one process per file: a second engine on this host takes the next slot
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._fd)
            raise SpoolBusy(f"records spool {self.path} is held by another process") from None
        self._drop_torn_tail()
        self.offset = self._read_offset()
        self.pending = self._count_lines(self.offset)
        self.bad_lines = 0

    # -- the engine's side ----------------------------------------------------------------------
    def append(self, item: dict[str, Any]) -> None:
        line = (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode()
        os.write(self._fd, line)
        self.pending += 1

    # -- the writer's side ----------------------------------------------------------------------
    def read(self, limit: int) -> tuple[list[dict[str, Any]], int, int]:
        """Up to ``limit`` items from the committed offset, the offset after them, and the
        number of lines read (damaged ones included)."""
        items: list[dict[str, Any]] = []
        lines = 0
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            end = self.offset
            while len(items) < limit:
                line = fh.readline()
                if not line.endswith(b"\n"):
                    break          # nothing more, or a line still being written
                end += len(line)
                lines += 1
                try:
                    items.append(json.loads(line))
                except ValueError:
                    self.bad_lines += 1     # a damaged line is counted (status), never fatal
        return items, end, lines

    def commit(self, end: int, count: int) -> None:
        self.offset = end
        self.pending = max(0, self.pending - count)
        size = os.fstat(self._fd).st_size
        if end >= size and size > REWIND_BYTES:
            os.ftruncate(self._fd, 0)
            self.offset = 0
        tmp = self.offset_path.with_name(self.offset_path.name + ".tmp")
        tmp.write_text(str(self.offset))
        os.replace(tmp, self.offset_path)

    @property
    def backlog_bytes(self) -> int:
        return max(0, os.fstat(self._fd).st_size - self.offset)

    def close(self) -> None:
        os.close(self._fd)

    # -- opening --------------------------------------------------------------------------------
    def _read_offset(self) -> int:
        try:
            offset = int(self.offset_path.read_text().strip() or 0)
        except (OSError, ValueError):
            return 0
        # Larger than the file: it was rewound after a full commit and the offset not yet rewritten.
        return offset if 0 <= offset <= os.fstat(self._fd).st_size else 0

    def _drop_torn_tail(self) -> None:
        """A line cut short by a kill mid-write is not a record: cut it off before appending."""
        size = os.fstat(self._fd).st_size
        if size == 0:
            return
        with open(self.path, "rb") as fh:
            fh.seek(max(0, size - 65536))
            tail = fh.read()
        if tail.endswith(b"\n"):
            return
        cut = tail.rfind(b"\n")
        keep = size - len(tail) + cut + 1 if cut >= 0 else (0 if size <= 65536 else size)
        os.ftruncate(self._fd, keep)

    def _count_lines(self, offset: int) -> int:
        with open(self.path, "rb") as fh:
            fh.seek(offset)
            return sum(chunk.count(b"\n") for chunk in iter(lambda: fh.read(1 << 16), b""))


def claim(folder: str | os.PathLike, slots: int = 64) -> tuple[Spool, list[Spool]]:
    """The first spool slot in ``folder`` no live process holds, and the other free slots that
    still hold records (left by a process that died): the writer drains those too."""
    folder = pathlib.Path(folder)
    mine: Spool | None = None
    orphans: list[Spool] = []
    for i in range(slots):
        path = folder / f"records-{i}.jsonl"
        if mine is not None and not path.exists():
            continue
        try:
            spool = Spool(path)
        except SpoolBusy:
            continue
        if mine is None:
            mine = spool
        elif spool.pending:
            orphans.append(spool)
        else:
            spool.close()
    if mine is None:
        raise OSError(f"records spool {folder}: all {slots} slots are held by other processes")
    return mine, orphans
