"""The story of one call as the engine saw it, and the tally of many.

A call is *lost* when it has no recorded end: the demo and the tests count those
and expect zero.  Outcomes follow the words a supervisor uses:
``answered`` (a person talked with the caller), ``abandoned`` (the caller hung up
before reaching one), ``transferred`` (handed to another number), ``failed``
(the engine or the PBX could not put the call through), ``completed`` (the flow
itself ended the call), ``shed`` (Asterisk was overloaded: the caller was told
and will be called back), ``handed_over`` (this node stopped and left the call
waiting in AGI for another node or its own successor, whose record goes on).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

OUTCOMES = ("answered", "abandoned", "transferred", "failed", "completed", "shed", "handed_over")


@dataclass
class CallRecord:
    call_id: str
    kind: str = "inbound"                  # or "callback": the engine rang a caller back
    channel: str = ""
    caller: str = ""
    caller_name: str = ""
    dialled: str = ""
    node: str = ""
    started: float = field(default_factory=time.time)
    answered: float | None = None          # the IVR answered the channel
    queued: float | None = None            # entered an ACD queue
    agent_answered: float | None = None    # a person picked up
    ended: float | None = None
    agent: str = ""
    queue: str = ""
    center: str = ""
    located_by: str = ""                   # how the center was chosen (ivr.flows.locate): dialled_area_code,
    place: str = ""                        # area_code, mobile_segment, default...; place: what it went by
    flow: str = ""                         # the flow that served the call, and its version
    flow_version: str = ""
    keys: list[str] = field(default_factory=list)
    outcome: str = ""
    reason: str = ""
    talk_s: float = 0.0
    wrapup_s: float = 0.0                  # the agent's wrap-up after this call (queue setting)
    dial_attempts: list[dict[str, Any]] = field(default_factory=list)
    recording_told: bool = False           # the caller heard the recording notice
    recording_path: str = ""               # MixMonitor's file (ivr/engine/recording.py)
    recording_s: float = 0.0               # seconds bridged while recording: the file's length
    path: list[dict[str, Any]] = field(default_factory=list)
    survey: str | None = None
    agi_steps: int = 0

    @property
    def wait_s(self) -> float | None:
        """Seconds from entering the queue to a person answering (speed of answer)."""
        if self.queued is None or self.agent_answered is None:
            return None
        return self.agent_answered - self.queued

    @property
    def to_person_s(self) -> float | None:
        """Seconds from the IVR answering to a person answering (GB/T 33358's 15 s)."""
        start = self.answered if self.answered is not None else self.started
        return None if self.agent_answered is None else self.agent_answered - start

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["wait_s"] = self.wait_s
        out["to_person_s"] = self.to_person_s
        return out


def tally(records: list[CallRecord], *, offered: int | None = None, threshold_s: float = 15.0,
          time_scale: float = 1.0) -> dict[str, Any]:
    """Figures for a run: counts by outcome, lost calls, service level, speed of answer.

    ``time_scale`` turns wall-clock seconds into the PBX's seconds when the
    built-in PBX runs faster than real time (its ``speed``).
    """
    callbacks = [r for r in records if r.kind == "callback"]
    records = [r for r in records if r.kind != "callback"]
    ended = [r for r in records if r.ended is not None]
    counts = {k: 0 for k in OUTCOMES}
    for r in ended:
        counts[r.outcome if r.outcome in counts else "failed"] += 1
    offered = len(records) if offered is None else offered
    answered = [r for r in ended if r.outcome == "answered"]
    # Speed of answer counts from entering the queue (the IVR's own time is reported apart).
    waits = sorted((r.wait_s if r.wait_s is not None else r.to_person_s) * time_scale
                   for r in answered if r.to_person_s is not None)
    ivr = [(r.queued - (r.answered or r.started)) * time_scale for r in ended if r.queued is not None]
    within = sum(1 for w in waits if w <= threshold_s)
    out: dict[str, Any] = {
        "offered": offered,
        "answered": counts["answered"],
        "abandoned": counts["abandoned"],
        "transferred": counts["transferred"],
        "completed_in_ivr": counts["completed"],
        "failed": counts["failed"],
        "shed": counts["shed"],
        "handed_over": counts["handed_over"],
        "lost": offered - len(ended),
        "service_level_answered": round(within / len(waits), 4) if waits else None,
        "service_level_offered": round(within / offered, 4) if offered else None,
        "asa_s": round(sum(waits) / len(waits), 3) if waits else None,
        "max_to_person_s": round(waits[-1], 3) if waits else None,
        "threshold_s": threshold_s,
        "ivr_to_queue_avg_s": round(sum(ivr) / len(ivr), 3) if ivr else None,
        "callbacks_made": len(callbacks),
        "callbacks_connected": sum(1 for r in callbacks if r.outcome == "answered"),
    }
    return out
