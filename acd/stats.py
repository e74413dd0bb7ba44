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


# -- what the store says against what is still true ---------------------------------------------

#: How often an engine node writes its heartbeat (the stats loop of :class:`acd.service.Acd`).
HEARTBEAT_S = 2.0
#: A node that missed this many heartbeats in a row has stopped or lost Redis.  Five, not one:
#: a slow Redis call or a busy loop may delay one or two, and a supervisor must not be told a
#: healthy node died.
MISSED_HEARTBEATS = 5
NODE_SILENT_AFTER_S = MISSED_HEARTBEATS * HEARTBEAT_S
#: A wrap-up is ended by some node's maintenance pass (every 0.5 s); one still shown this long
#: after its end means no node is ending wrap-ups.
WRAPUP_OVERDUE_AFTER_S = NODE_SILENT_AFTER_S


@dataclass(slots=True, frozen=True)
class NodeHealth:
    node: str
    age_s: float          # since its last heartbeat
    status: str           # what it last said of itself ("ok", a records backlog...)
    answering: bool       # heard from within NODE_SILENT_AFTER_S


def node_health(nodes: dict[str, tuple[float, str]], now: float) -> list[NodeHealth]:
    """Each node's last word and whether it still counts: a heartbeat is only written by a
    running node, so an old one is what a stopped node left behind, never a sign of health."""
    out = []
    for name, (at, status) in sorted(nodes.items()):
        age = max(0.0, now - float(at))
        out.append(NodeHealth(name, age, str(status), age <= NODE_SILENT_AFTER_S))
    return out


def wrapup_overdue_s(agent: Agent, now: float) -> float | None:
    """How long ago this agent's wrap-up should have ended, when nobody ended it.

    The store keeps an agent in ``wrapup`` until a node's maintenance pass releases it, so
    with every engine stopped the agent stays there for good.  The store's word is kept (the
    agent takes no call until a node runs again); this says how stale it is.
    """
    if agent.state != AgentState.WRAPUP or agent.wrap_until <= 0:
        return None
    late = now - agent.wrap_until
    return late if late > WRAPUP_OVERDUE_AFTER_S else None
