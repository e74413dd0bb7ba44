"""The records write path: the engine appends, one writer task batches into the database.

The engine's side (:meth:`RecordWriter.submit`) is an append to the local spool
and never waits for the database, so a slow or dead database cannot slow a
call.  The writer reads the spool from its committed offset, upserts a batch in
one transaction, then moves the offset.  While the database is away the spool
grows and the writer retries with the project's one backoff; when it is back
the backlog drains in order.  Memory holds one batch at most.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from acd.db import rows, upsert
from acd.db.connect import reason, shown
from acd.db.spool import Spool
from hotline import log as logmod
from hotline.backoff import pause_before_retry

BATCH = 500
FLUSH_S = 0.2
LINGER_S = 0.1     # the longest a record waits for company before its batch goes


class RecordWriter:
    def __init__(self, engine: AsyncEngine | None, spool: Spool, *, orphans: list[Spool] | None = None,
                 node: str = "", batch: int = BATCH, flush_s: float = FLUSH_S, linger_s: float = LINGER_S,
                 backoff_max_s: float = 10.0, clock=time.time):
        self.engine = engine
        self.spool = spool
        self.orphans = list(orphans or [])     # spools a dead process left: drained first
        self.node = node
        self.batch = batch
        self.flush_s = flush_s
        self.linger_s = linger_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self.log = logmod.get("acd.records", node=node)
        self.written = 0
        self.db_up: bool | None = None      # None until the first write was tried
        self.last_error = ""
        self.lag_s: deque[float] = deque(maxlen=10_000)   # submit to commit, per record (benchmarks)
        self._wake = asyncio.Event()

    # -- the engine's side ------------------------------------------------------------------------
    def submit(self, kind: str, row: dict[str, Any]) -> None:
        self.spool.append({"k": kind, "r": row, "t": self.clock()})
        self._wake.set()

    def submit_call(self, record: Any) -> None:
        """An ended call (engine CallRecord or its dict): its row, legs and survey, in one go."""
        data = record.as_dict() if hasattr(record, "as_dict") else dict(record)
        if data.get("outcome") in ("elsewhere", "handed_over"):
            return      # the node that goes on with the call writes its record
        now = self.clock()
        data.setdefault("node", self.node)
        for item in rows.call_items(data, now=now):
            item["t"] = now
            self.spool.append(item)
        self._wake.set()

    # -- the writer task --------------------------------------------------------------------------
    async def run(self) -> None:
        """Until cancelled: drain the spool into the database, backing off while it is away."""
        failures = 0
        while True:
            if not self.pending:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.flush_s)
                except asyncio.TimeoutError:
                    continue
            if self.pending < self.batch and self.linger_s:
                await asyncio.sleep(self.linger_s)     # let a batch gather: one transaction, not ten
            if await self.flush_once():
                failures = 0
            else:
                await pause_before_retry(failures, 0.2, self.backoff_max_s)
                failures += 1

    async def flush_once(self) -> bool:
        """Write one batch; False when the database refused it (the batch stays in the spool)."""
        while self.orphans and not self.orphans[0].pending:
            self.orphans.pop(0).close()
        source = self.orphans[0] if self.orphans else self.spool
        items, end, lines = source.read(self.batch)
        if not items:
            if lines:
                source.commit(end, lines)          # damaged lines only: step over them
            else:
                source.pending = 0                 # the count drifted: nothing is left to read
            return True
        if self.engine is None:
            return False
        try:
            async with self.engine.begin() as conn:
                await upsert.write(conn, items)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._down(exc)
            return False
        source.commit(end, lines)
        now = self.clock()
        self.lag_s.extend(now - float(i.get("t", now)) for i in items)
        self.written += len(items)
        if self.db_up is not True:
            if self.db_up is False:
                self.log.warning("records.db_back", db=shown(self.engine.url), backlog=self.pending)
            self.db_up, self.last_error = True, ""
        return True

    def _down(self, exc: BaseException) -> None:
        words = reason(exc)
        if self.db_up is not False or words != self.last_error:
            self.log.error("records.db_down", db=shown(self.engine.url), error=words, backlog=self.pending,
                           spool=str(self.spool.path))
        self.db_up, self.last_error = False, words

    async def drain(self, timeout_s: float) -> int:
        """Write what is spooled, for at most ``timeout_s``; returns what is left (kept for next start)."""
        deadline = time.monotonic() + timeout_s
        while self.pending and time.monotonic() < deadline:
            try:
                ok = await asyncio.wait_for(self.flush_once(), max(0.01, deadline - time.monotonic()))
            except asyncio.TimeoutError:
                break
            if not ok:
                break
        return self.pending

    @property
    def pending(self) -> int:
        return self.spool.pending + sum(o.pending for o in self.orphans)

    def health(self) -> str:
        """For the node's heartbeat: `acd status` shows a records backlog beside the node."""
        if self.db_up is False:
            return f"records db down, {self.pending} spooled"
        return f"records backlog {self.pending}" if self.pending > self.batch else "ok"

    def status(self) -> dict[str, Any]:
        return {"db": shown(self.engine.url) if self.engine is not None else None, "db_up": self.db_up,
                "backlog": self.pending, "backlog_bytes": self.spool.backlog_bytes,
                "written": self.written, "spool": str(self.spool.path), "bad_lines": self.spool.bad_lines,
                "last_error": self.last_error or None}


async def open_writer(records_cfg, *, url: str | None = None, optional: bool = False, node: str = "",
                      log=None) -> RecordWriter:
    """The writer an engine node runs.  An unreachable database refuses the start unless
    ``optional`` (then records spool until it answers); an empty SQLite file gets its schema
    here (the embedded default has nobody to run ``acd db upgrade``), PostgreSQL never does."""
    from acd.db import migrate
    from acd.db.connect import DbUnavailable, open_engine, parse_url, ping
    from acd.db.spool import claim

    log = log or logmod.get("acd.records", node=node)
    parsed = parse_url(url or records_cfg.url)
    engine = open_engine(parsed)
    try:
        await ping(engine)
        if parsed.get_backend_name() == "sqlite" and not await migrate.current(engine):
            await migrate.upgrade(engine)
        await migrate.require_current(engine)
    except DbUnavailable as exc:
        if not optional:
            await engine.dispose()
            raise
        log.warning("records.db_unavailable_at_start", error=str(exc), spooling=True)
    except Exception:
        await engine.dispose()
        raise
    spool, orphans = claim(records_cfg.spool_dir)
    writer = RecordWriter(engine, spool, orphans=orphans, node=node)
    log.info("records.writer_ready", db=shown(engine.url), spool=str(spool.path), backlog=writer.pending)
    return writer


async def close_writer(writer: RecordWriter, drain_s: float = 5.0) -> dict[str, Any]:
    """Write what is spooled (at most ``drain_s``); what is left waits in the spool for the next
    start.  Returns the writer's last status."""
    left = await writer.drain(drain_s)
    if left:
        writer.log.warning("records.left_in_spool", backlog=left, spool=str(writer.spool.path))
    final = writer.status()
    writer.spool.close()
    for orphan in writer.orphans:
        orphan.close()
    if writer.engine is not None:
        await writer.engine.dispose()
    return final
