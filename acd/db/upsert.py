"""Writing spool items into the tables so that writing them twice changes nothing.

Each kind of item has one table and one natural key.  A row seen again replaces
the stored one (a call's record rewritten by the node that adopted it) or is
ignored (an agent-state event: a fact that never changes).  Each statement is
built once per table and dialect and run as an executemany, so a batch costs the
driver's time, not the SQL compiler's.
"""

from __future__ import annotations

from functools import cache
from typing import Any, Iterable

from sqlalchemy import Table, func, or_, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.db import schema

#: kind -> (table, key columns, replace on conflict?)
KINDS: dict[str, tuple[Table, tuple[str, ...], bool]] = {
    "call": (schema.calls, ("call_id",), True),
    "leg": (schema.call_legs, ("call_id", "seq"), True),
    "survey": (schema.surveys, ("call_id",), True),
    "callback": (schema.callbacks, ("callback_id",), True),
    "agent_state": (schema.agent_states, ("event_id",), False),
    "disposition": (schema.dispositions, ("call_id",), True),     # the latest one stands
    "audit": (schema.audit_log, ("event_id",), False),
}


@cache
def _columns(kind: str) -> dict[str, Any]:
    """Every column a row of this kind carries, with the value a missing one gets."""
    table = KINDS[kind][0]
    out: dict[str, Any] = {}
    for col in table.c:
        if col.primary_key and col.autoincrement is True:
            continue
        default = col.server_default.arg if col.server_default is not None else None
        out[col.name] = _python_default(col, default)
    return out


def _python_default(col, default) -> Any:
    if default is None:
        return None
    text = str(default)
    try:
        kind = col.type.python_type
    except NotImplementedError:
        return text
    if kind is bool:
        return text not in ("0", "false", "")
    if kind in (int, float):
        return kind(text)
    return text


@cache
def _statement(kind: str, dialect: str):
    table, key, replace = KINDS[kind]
    stmt = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)
    if replace:
        return stmt.on_conflict_do_update(index_elements=list(key), set_={
            c: stmt.excluded[c] for c in _columns(kind) if c not in key})
    return stmt.on_conflict_do_nothing(index_elements=list(key))


async def write(conn: AsyncConnection, items: Iterable[dict[str, Any]]) -> int:
    """Upsert a batch (in the caller's transaction); returns the rows handed to the database."""
    by_kind: dict[str, dict[tuple, dict]] = {}
    for item in items:
        kind = item.get("k")
        if kind not in KINDS:
            continue
        columns = _columns(kind)
        given = item["r"]
        row = {c: given.get(c, d) for c, d in columns.items()}
        # The last word for a key wins; one batch may not touch the same row twice.
        by_kind.setdefault(kind, {})[tuple(row[k] for k in KINDS[kind][1])] = row
    written = 0
    for kind, rows in by_kind.items():
        # Key order: two nodes upserting overlapping batches lock rows in the same order (no deadlock).
        ordered = [rows[k] for k in sorted(rows, key=lambda k: tuple(str(v) for v in k))]
        await conn.execute(_statement(kind, conn.dialect.name), ordered)
        written += len(ordered)
        if kind == "agent_state":
            await close_states(conn, ordered)
    return written


async def close_states(conn: AsyncConnection, rows: list[dict]) -> None:
    """Set ``until`` on the events the new ones follow, and on the new ones that already have a
    successor (events from two nodes may arrive out of order).  Only an event whose ``until`` is
    open or later than the earliest new event can change, so the update touches a handful of rows
    per agent, found through the (agent_id, at) index."""
    t = schema.agent_states
    n = t.alias("later")
    nxt = (select(func.min(n.c.at)).where(n.c.agent_id == t.c.agent_id,
                                          tuple_(n.c.at, n.c.event_id) > tuple_(t.c.at, t.c.event_id))
           .scalar_subquery())
    since = min(r["at"] for r in rows)
    agents = sorted({r["agent_id"] for r in rows})
    await conn.execute(update(t).where(t.c.agent_id.in_(agents), or_(t.c.until.is_(None), t.c.until >= since))
                       .values(until=nxt))
