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

TIME_COLUMNS = {"started_at", "answered_at", "queued_at", "agent_answered_at", "ended_at", "disposition_at"}
#: The agent's disposition (table ``dispositions``), after the calls' own columns; ``disposition``
#: itself is the category (calls.disposition when no agent recorded one).
DISPOSITION_COLUMNS = {"disposition_out_of_remit": "out_of_remit", "disposition_note": "note",
                       "disposition_work_order": "work_order", "disposition_agent": "agent_id",
                       "disposition_at": "at"}
CALL_COLUMNS = [c.name for c in schema.calls.c if c.name != "written_at"]
COLUMNS = CALL_COLUMNS + ["survey_label"] + list(DISPOSITION_COLUMNS)


def iso(epoch: float | None) -> str:
    return "" if epoch is None else dt.datetime.fromtimestamp(epoch, CHINA).isoformat(timespec="milliseconds")


def flat(row: dict, *, unmask: bool) -> dict:
    out = {}
    for name in CALL_COLUMNS:
        value = row[name]
        if name in TIME_COLUMNS:
            value = iso(value)
        elif name == "caller" and not unmask:
            value = mask(value) if value else ""
        elif name == "out_of_remit":
            value = bool(value)
        out[name] = value
    out["survey_label"] = LABELS.get(row["survey_grade"], "") if row["survey_grade"] else ""
    if row.get("disposition_category"):
        out["disposition"] = row["disposition_category"]
    for name in DISPOSITION_COLUMNS:
        value = row.get(name)
        out[name] = iso(value) if name in TIME_COLUMNS else ("" if value is None else value)
    if row.get("disposition_work_order") is not None:
        out["disposition_work_order"] = bool(row["disposition_work_order"])
    return out


async def write(conn: AsyncConnection, out: IO[str], since: float, until: float, *, fmt: str = "csv",
                unmask: bool = False) -> int:
    """Stream the calls that started in [since, until) to ``out``; returns how many."""
    d = schema.dispositions
    query = (select(schema.calls, d.c.category.label("disposition_category"),
                    *(d.c[col].label(name) for name, col in DISPOSITION_COLUMNS.items()))
             .select_from(schema.calls.outerjoin(d, d.c.call_id == schema.calls.c.call_id))
             .where(schema.calls.c.started_at >= since, schema.calls.c.started_at < until)
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
