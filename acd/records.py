"""One record per call, for the hotline's reports and GB/T 33358 audits.

The engine writes the record when the call ends (it alone knows the flow path
and the survey score); the ACD keeps it for the retention period and exports it.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, dataclass, field, fields
from typing import Iterable


@dataclass(slots=True)
class CallRecord:
    call_id: str
    ts: float                      # when the call arrived (epoch seconds)
    dialled: str = ""
    caller: str = ""
    center: str = ""
    queue: str = ""
    flow_path: list[str] = field(default_factory=list)
    enqueued_at: float = 0.0
    answered_at: float = 0.0
    ended_at: float = 0.0
    wait_s: float = 0.0
    talk_s: float = 0.0
    agent_id: str = ""
    outcome: str = ""              # answered | abandoned | callback | self_service | transferred | ...
    survey_score: int | None = None
    callback_of: str = ""          # for a callback: the missed call
    attempts: int = 0
    node: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


COLUMNS = [f.name for f in fields(CallRecord)]

_OUTCOMES = {"ended": "answered", "connected": "answered", "abandoned": "abandoned", "failed": "callback_failed",
             "waiting": "waiting", "offered": "waiting"}


def from_call(call, **extra) -> CallRecord:
    """A record from what the ACD knows of a call; the engine adds flow path, survey score, talk time."""
    if call.kind == "callback" and call.state in ("waiting", "offered"):
        outcome = "callback_pending"
    else:
        outcome = _OUTCOMES.get(call.state, call.state)
    waited_until = call.answered_at or call.ended_at
    rec = CallRecord(
        call_id=call.call_id, ts=call.enqueued_at, dialled=call.dialled, caller=call.caller,
        center=call.center, queue=call.queue, flow_path=list(call.flow_path), enqueued_at=call.enqueued_at,
        answered_at=call.answered_at, ended_at=call.ended_at,
        wait_s=round(max(0.0, waited_until - call.enqueued_at), 3) if waited_until else 0.0,
        agent_id=call.agent_id, outcome=outcome, callback_of=call.origin, attempts=call.attempts,
    )
    for key, value in extra.items():
        if not hasattr(rec, key):
            raise TypeError(f"CallRecord has no field {key!r}")
        setattr(rec, key, value)
    return rec


def to_jsonl(records: Iterable[dict]) -> str:
    return "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)


def to_csv(records: Iterable[dict]) -> str:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for r in records:
        row = dict(r)
        if isinstance(row.get("flow_path"), list):
            row["flow_path"] = ">".join(row["flow_path"])
        if row.get("survey_score") is None:
            row["survey_score"] = ""
        writer.writerow(row)
    return buf.getvalue()
