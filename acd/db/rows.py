"""From what the engine and the ACD know to rows of the records tables.

Pure functions: a call's record (ivr.engine.records.CallRecord as a dict) becomes
its ``calls`` row, its legs and its survey row; nothing here touches a database.
"""

from __future__ import annotations

import time
from typing import Any

#: 好差评's five grades (GB/T 39735-2020; the national 好差评 system), best first.
GRADES = {"非常满意": 5, "满意": 4, "基本满意": 3, "不满意": 2, "非常不满意": 1}
LABELS = {grade: label for label, grade in GRADES.items()}
#: Grades that count as satisfied in the satisfaction rate (好评: 非常满意、满意、基本满意).
SATISFIED = (5, 4, 3)

OUT_OF_REMIT_FLOW = "out_of_scope"
SURVEY_FLOW = "survey"


def grade(label: str | None) -> int | None:
    """The grade of a survey answer; a digit 1-5 is read as that grade's label is ordered."""
    if label is None:
        return None
    return GRADES.get(str(label).strip())


def call_items(record: dict[str, Any], *, now: float | None = None) -> list[dict[str, Any]]:
    """The spool items for one ended call: its row, its legs, and its survey row if it reached one."""
    now = time.time() if now is None else now
    call = call_row(record, now)
    items = [{"k": "call", "r": call}]
    for seq, attempt in enumerate(record.get("dial_attempts") or []):
        kind = "transfer" if "transfer" in attempt else "agent"
        items.append({"k": "leg", "r": {
            "call_id": call["call_id"], "seq": seq, "kind": kind,
            "target": str(attempt.get(kind) or ""), "status": str(attempt.get("status") or ""),
            "at": attempt.get("at"), "transfer_kind": str(attempt.get("kind") or "") if kind == "transfer" else "",
            "by_agent": str(attempt.get("by") or ""), "requested_at": attempt.get("requested"),
            "settled_at": attempt.get("settled")}})
    if reached_survey(record):
        items.append({"k": "survey", "r": {
            "call_id": call["call_id"], "at": call["ended_at"] or now, "center": call["center"],
            "queue": call["queue"], "agent_id": call["agent_id"], "grade": call["survey_grade"],
            "label": LABELS.get(call["survey_grade"], "") if call["survey_grade"] else ""}})
    return items


def call_row(r: dict[str, Any], now: float) -> dict[str, Any]:
    path = r.get("path") or []
    flows = {str(p.get("flow", "")) for p in path if isinstance(p, dict)}
    transfers = [a for a in (r.get("dial_attempts") or []) if "transfer" in a]
    outcome = str(r.get("outcome") or "")
    queued = r.get("queued")
    started = float(r.get("started") or now)
    answered = r.get("answered")
    agent_answered = r.get("agent_answered")
    wait = agent_answered - queued if agent_answered is not None and queued is not None else None
    to_person = agent_answered - (answered if answered is not None else started) if agent_answered is not None else None
    return {
        "call_id": str(r["call_id"]), "kind": str(r.get("kind") or "inbound"),
        "started_at": started, "answered_at": answered, "queued_at": queued,
        "agent_answered_at": agent_answered, "ended_at": r.get("ended"),
        "dialled": str(r.get("dialled") or ""), "caller": str(r.get("caller") or ""),
        "center": str(r.get("center") or ""), "queue": str(r.get("queue") or ""),
        "agent_id": str(r.get("agent") or ""), "flow": str(r.get("flow") or ""),
        "flow_version": str(r.get("flow_version") or ""),
        "flow_path": ">".join(f"{p.get('flow')}:{p.get('node')}" for p in path if isinstance(p, dict)),
        "keys": "".join(str(k) for k in (r.get("keys") or [])),
        "outcome": outcome, "reason": str(r.get("reason") or ""),
        "abandoned_in": ("queue" if queued is not None else "ivr") if outcome == "abandoned" else "",
        "out_of_remit": OUT_OF_REMIT_FLOW in flows,
        "wait_s": round(wait, 3) if wait is not None else None,
        "to_person_s": round(to_person, 3) if to_person is not None else None,
        "talk_s": round(float(r.get("talk_s") or 0.0), 3), "wrapup_s": float(r.get("wrapup_s") or 0.0),
        "transfers": sum(1 for a in transfers if a.get("status") == "ANSWER"),
        "transfer_to": str(transfers[-1]["transfer"]) if transfers else "",
        "recording_path": str(r.get("recording_path") or ""), "recording_s": float(r.get("recording_s") or 0.0),
        "disposition": str(r.get("disposition") or ""),
        "survey_grade": grade(r.get("survey")),
        "callback_of": str(r.get("callback_of") or ""), "node": str(r.get("node") or ""),
        "written_at": now,
    }


def reached_survey(r: dict[str, Any]) -> bool:
    return r.get("survey") is not None or any(
        isinstance(p, dict) and p.get("flow") == SURVEY_FLOW for p in (r.get("path") or []))
