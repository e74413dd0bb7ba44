"""``acd export``: every column of the calls table, times in ISO 8601 with the zone, numbers masked.

A supervisor's spreadsheet must not need the engine's internals to be read:
times are China time with ``+08:00``, the outcome is flat columns, the survey
grade comes with its 好差评 label, and a caller number is ``138****0000``
unless the export is an audited unmasked one.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
from typing import IO

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from acd.db import schema
from acd.db.rows import LABELS
from hotline.log import mask
from acd.when import CHINA

TIME_COLUMNS = {"started_at", "answered_at", "queued_at", "agent_answered_at", "ended_at"}
COLUMNS = [c.name for c in schema.calls.c if c.name != "written_at"] + ["survey_label"]


def iso(epoch: float | None) -> str:
    return "" if epoch is None else dt.datetime.fromtimestamp(epoch, CHINA).isoformat(timespec="milliseconds")


def flat(row: dict, *, unmask: bool) -> dict:
    out = {}
    for name in COLUMNS[:-1]:
        value = row[name]
        if name in TIME_COLUMNS:
            value = iso(value)
        elif name == "caller" and not unmask:
            value = mask(value) if value else ""
        elif name == "out_of_remit":
            value = bool(value)
        out[name] = value
    out["survey_label"] = LABELS.get(row["survey_grade"], "") if row["survey_grade"] else ""
    return out


async def write(conn: AsyncConnection, out: IO[str], since: float, until: float, *, fmt: str = "csv",
                unmask: bool = False) -> int:
    """Stream the calls that started in [since, until) to ``out``; returns how many."""
    query = (select(schema.calls).where(schema.calls.c.started_at >= since, schema.calls.c.started_at < until)
             .order_by(schema.calls.c.started_at, schema.calls.c.call_id))
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n") if fmt == "csv" else None
    if writer is not None:
        writer.writeheader()
    count = 0
    result = await conn.stream(query)
    async for row in result.mappings():
        data = flat(dict(row), unmask=unmask)
        if writer is not None:
            writer.writerow({k: ("" if v is None else ("true" if v is True else "false" if v is False else v))
                             for k, v in data.items()})
        else:
            out.write(json.dumps(data, ensure_ascii=False) + "\n")
        count += 1
    return count
