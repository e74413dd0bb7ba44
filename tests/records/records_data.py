"""Call records as the engine hands them over (ivr.engine.records.CallRecord.as_dict)."""

from __future__ import annotations

T0 = 1_796_000_000.0     # 2026-11-30 08:53:20 +08:00


def answered_call(call_id: str, *, at: float = T0, wait_s: float = 8.0, grade_label: str | None = "满意",
                  caller: str = "13912345678", center: str = "changchun") -> dict:
    return {
        "call_id": call_id, "kind": "inbound", "channel": "PJSIP/trunk-1", "caller": caller,
        "dialled": "12345", "node": "node-a", "started": at, "answered": at + 0.5, "queued": at + 12.0,
        "agent_answered": at + 12.0 + wait_s, "ended": at + 200.0, "agent": "1301", "queue": center,
        "center": center, "flow": "changchun", "flow_version": "abc123", "keys": ["1", "2"],
        "outcome": "answered", "reason": "program finished", "talk_s": 150.0, "wrapup_s": 10.0,
        "dial_attempts": [{"agent": "1302", "status": "NOANSWER"}, {"agent": "1301", "status": "ANSWER"}],
        "path": [{"flow": "changchun", "node": "welcome"}, {"flow": "changchun", "node": "to_city"},
                 {"flow": "survey", "node": "rate"}],
        "survey": grade_label,
    }
