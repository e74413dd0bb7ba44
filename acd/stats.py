"""Live figures of GB/T 33358 from queue outcomes: service level, speed of answer, 接通率.

Each finished wait is one outcome ``(time, "A" answered | "X" abandoned, wait_s)``
kept for 24 hours per queue; the figures are computed from those, so a new node
or the CLI sees the same numbers as the node that served the calls.

Definitions (docs/acd.md):
- offered = answered + abandoned in the window (a call counts once, when its wait ends);
- service level over answered = answered within T / answered;
- service level over offered  = answered within T / offered;
- ASA = mean wait of answered calls; abandon rate = abandoned / offered;
- 接通率 (24 h) = answered / offered over the last 24 hours.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Iterable, Sequence

from acd.model import Agent, AgentState

DAY_S = 86400.0
ANSWERED = "A"
ABANDONED = "X"


@dataclass(slots=True)
class QueueStats:
    queue: str
    waiting: int = 0
    longest_wait_s: float = 0.0
    agents: dict[str, int] = field(default_factory=dict)
    offered: int = 0
    answered: int = 0
    abandoned: int = 0
    answered_within: int = 0
    sl_answered: float | None = None
    sl_offered: float | None = None
    asa_s: float | None = None
    abandon_rate: float | None = None
    completion_24h: float | None = None

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(slots=True)
class AgentStats:
    agent: str
    state: str
    reason: str
    calls: int
    talk_s: float
    occupancy: float

    def to_dict(self) -> dict:
        return asdict(self)


def queue_stats(
    queue: str,
    outcomes: Iterable[tuple[float, str, float]],
    waiting_since: Sequence[float],
    agents: Iterable[Agent],
    now: float,
    threshold_s: float = 15.0,
    window_s: float = DAY_S,
) -> QueueStats:
    st = QueueStats(queue=queue)
    st.waiting = len(waiting_since)
    st.longest_wait_s = max((now - t for t in waiting_since), default=0.0)
    st.agents = {s.value: 0 for s in AgentState}
    for agent in agents:
        if queue in agent.queues:
            st.agents[agent.state] = st.agents.get(agent.state, 0) + 1
    waits = []
    since = now - window_s
    for ts, outcome, wait in outcomes:
        if ts < since:
            continue
        if outcome == ANSWERED:
            st.answered += 1
            waits.append(wait)
            if wait <= threshold_s:
                st.answered_within += 1
        elif outcome == ABANDONED:
            st.abandoned += 1
    st.offered = st.answered + st.abandoned
    if st.answered:
        st.sl_answered = st.answered_within / st.answered
        st.asa_s = sum(waits) / len(waits)
    if st.offered:
        st.sl_offered = st.answered_within / st.offered
        st.abandon_rate = st.abandoned / st.offered
        st.completion_24h = st.answered / st.offered
    return st


def agent_stats(agents: Iterable[Agent]) -> list[AgentStats]:
    return [
        AgentStats(a.id, a.state, a.reason, a.calls, round(a.talk_s, 1), round(a.occupancy(), 3))
        for a in sorted(agents, key=lambda a: a.id)
    ]


def total(rows: Sequence[QueueStats], threshold_s: float = 15.0) -> QueueStats:
    """The hotline as a whole: sums, and ratios recomputed from the sums (not averaged)."""
    t = QueueStats(queue="*")
    t.agents = {}
    asa_weighted = 0.0
    for r in rows:
        t.waiting += r.waiting
        t.longest_wait_s = max(t.longest_wait_s, r.longest_wait_s)
        t.offered += r.offered
        t.answered += r.answered
        t.abandoned += r.abandoned
        t.answered_within += r.answered_within
        if r.asa_s is not None:
            asa_weighted += r.asa_s * r.answered
    if t.answered:
        t.sl_answered = t.answered_within / t.answered
        t.asa_s = asa_weighted / t.answered
    if t.offered:
        t.sl_offered = t.answered_within / t.offered
        t.abandon_rate = t.abandoned / t.offered
        t.completion_24h = t.answered / t.offered
    return t
