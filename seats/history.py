"""Agent log-ins and log-outs from the records database's agent state history (acd/db), so
``seats adherence`` needs no hand-made log: every state change the ACD made is there."""

from __future__ import annotations

import asyncio
import datetime as dt

from hotline.errors import Unreachable
from seats.adherence import CHINA, Event
from seats.errors import SeatsError

#: History read before the window: who was already logged in when it opened.
LOOKBACK = dt.timedelta(days=2)


def read_agent_history(url: str, since: dt.datetime | None = None, until: dt.datetime | None = None) -> list[Event]:
    """Login/logout events (naive China time) from the state history between the datetimes given."""
    from acd.db.connect import DbError

    try:
        return asyncio.run(_read(url, since, until))
    except DbError as exc:
        raise SeatsError(str(exc)) from None


async def _read(url, since, until) -> list[Event]:
    from sqlalchemy import select

    from acd.db import schema
    from acd.db.connect import open_engine, parse_url
    from acd.db.migrate import require_current

    engine = open_engine(parse_url(url))
    try:
        await _ping(engine)
        await require_current(engine)
        t = schema.agent_states
        query = select(t.c.agent_id, t.c.state, t.c.at).order_by(t.c.at, t.c.event_id)
        if since is not None:
            query = query.where(t.c.at >= _epoch(since - LOOKBACK))
        if until is not None:
            query = query.where(t.c.at < _epoch(until))
        async with engine.connect() as conn:
            rows = (await conn.execute(query)).all()
    finally:
        await engine.dispose()
    return to_events(rows)


async def _ping(engine) -> None:
    """A database that does not answer is :class:`Unreachable` (exit 3), worded like the ACD's and ivr's
    services ("connection refused", "unknown host name"), never the driver's errno tuple."""
    from sqlalchemy import text

    from acd.db.connect import shown

    try:
        async with engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
    except Exception as exc:
        cause = getattr(exc, "orig", None) or exc
        raise Unreachable("the records database", shown(engine.url), cause) from None


def to_events(rows) -> list[Event]:
    """Any state but logged_out after logged_out (or first seen) is a login; logged_out a logout."""
    logged_in: dict[str, bool] = {}
    events = []
    for agent_id, state, at in rows:
        ts = dt.datetime.fromtimestamp(at, CHINA).replace(tzinfo=None)
        now_in = state != "logged_out"
        if now_in and not logged_in.get(agent_id, False):
            events.append(Event(agent_id, "login", ts))
        elif not now_in and logged_in.get(agent_id, False):
            events.append(Event(agent_id, "logout", ts))
        logged_in[agent_id] = now_in
    return events


def _epoch(naive_china: dt.datetime) -> float:
    return naive_china.replace(tzinfo=CHINA).timestamp()
