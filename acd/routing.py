"""Routing decisions as plain functions: which agent gets which waiting call.

No I/O here.  The dispatcher reads a snapshot (available agents, heads of the
queues), asks :func:`match` for pairs, and then claims each pair atomically in the
store; a pair that lost a race with another node is simply dropped and the next
snapshot decides again.  Keeping the decision pure is what lets two nodes share
one hotline: correctness comes from the claim, fairness from this module.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from acd.config import QueueConfig
from acd.model import Agent, Call


@dataclass(frozen=True, slots=True)
class Eligibility:
    """Who may take a call right now, after escalation for the time it has waited."""

    queues: tuple[str, ...]
    skills: frozenset[str]


def eligibility(call: Call, queues: Mapping[str, QueueConfig], now: float) -> Eligibility:
    """Widen the required skills, then overflow to other queues, as the wait grows.

    Steps come from the call's own queue, in order of ``after_s``; a step applies
    once the call has waited that long.  Overflow adds queues, it never removes
    the original one, so the call keeps its place at home.
    """
    skills = set(call.skills)
    allowed = [call.queue]
    cfg = queues.get(call.queue)
    if cfg is not None:
        waited = now - call.enqueued_at
        for step in cfg.escalation:
            if waited < step.after_s:
                break
            if "*" in step.drop_skills:
                skills.clear()
            else:
                skills.difference_update(step.drop_skills)
            for q in step.overflow:
                if q not in allowed:
                    allowed.append(q)
    return Eligibility(tuple(allowed), frozenset(skills))


def skill_level(agent: Agent, skills: Iterable[str]) -> int:
    """The agent's weakest level among the required skills; 0 when one is missing."""
    level = 5
    for s in skills:
        got = agent.skills.get(s, 0)
        if got < level:
            level = got
            if level == 0:
                return 0
    return level


class _Pool:
    """Available agents indexed by queue, in longest-idle order, consumed as they are matched."""

    __slots__ = ("by_queue", "start", "taken")

    def __init__(self, agents: Sequence[Agent]):
        ordered = sorted(agents, key=lambda a: (a.idle_since, a.id))
        self.by_queue: dict[str, list[Agent]] = {}
        for agent in ordered:
            for q in agent.queues:
                self.by_queue.setdefault(q, []).append(agent)
        self.start: dict[str, int] = dict.fromkeys(self.by_queue, 0)
        self.taken: set[str] = set()

    def candidates(self, queue: str):
        lst = self.by_queue.get(queue)
        if not lst:
            return ()
        i = self.start[queue]
        taken = self.taken
        while i < len(lst) and lst[i].id in taken:
            i += 1
        self.start[queue] = i
        return lst[i:] if i else lst

    def best(self, elig: Eligibility, policy: str) -> Agent | None:
        skills = elig.skills
        taken = self.taken
        best: Agent | None = None
        best_key = None
        for q in elig.queues:
            for agent in self.candidates(q):
                if agent.id in taken:
                    continue
                if skills:
                    level = skill_level(agent, skills)
                    if level == 0:
                        continue
                else:
                    level = 0
                if policy == "skill_level":
                    key = (-level, agent.idle_since, agent.id)
                    if best_key is None or key < best_key:
                        best, best_key = agent, key
                else:
                    key = (agent.idle_since, agent.id)
                    if best_key is None or key < best_key:
                        best, best_key = agent, key
                    break  # lists are in idle order: the first fit in this queue is its best
        return best


def _call_key(call: Call):
    return (call.enqueued_at - call.priority * 1e10, call.call_id)


def order_calls(calls: Iterable[Call]) -> list[Call]:
    """Higher priority first, then first come first served (the same key the queues sort by)."""
    return sorted(calls, key=_call_key)


def _stage(cfg: QueueConfig | None, waited: float) -> int:
    """How many escalation steps a call has passed."""
    n = 0
    if cfg is not None:
        for step in cfg.escalation:
            if waited < step.after_s:
                break
            n += 1
    return n


def match(
    calls: Sequence[Call],
    agents: Sequence[Agent],
    queues: Mapping[str, QueueConfig],
    now: float,
) -> list[tuple[Call, Agent]]:
    """Pair waiting calls with available agents.

    Calls are served in priority/arrival order across every queue; each gets the
    longest-idle qualifying agent (or, for queues with ``routing: skill_level``,
    the best-levelled one, longest idle among equals).  A call nobody can take now
    does not block the calls behind it.  Callbacks not yet due are skipped.
    """
    if not agents or not calls:
        return []
    pool = _Pool(agents)
    staffed = set(pool.by_queue)
    reach: dict[str, bool] = {}         # queue -> could any free agent ever take its calls
    for queue in {c.queue for c in calls}:
        targets = {queue}
        cfg = queues.get(queue)
        if cfg is not None:
            for step in cfg.escalation:
                targets.update(step.overflow)
        reach[queue] = not staffed.isdisjoint(targets)
    # Drop what nobody free could take before sorting: with one agent free, most calls go.
    candidates = [c for c in calls if reach[c.queue] and c.due_at <= now]
    eligs: dict[tuple, Eligibility] = {}
    nobody: set[tuple] = set()          # (queue, skills, stage) nobody free can take: skip alike calls
    pairs: list[tuple[Call, Agent]] = []
    remaining = len(agents)
    for call in order_calls(candidates):
        queue = call.queue
        cfg = queues.get(queue)
        key = (queue, tuple(call.skills), _stage(cfg, now - call.enqueued_at))
        if key in nobody:
            continue
        elig = eligs.get(key)
        if elig is None:
            elig = eligs[key] = eligibility(call, queues, now)
        agent = pool.best(elig, cfg.routing if cfg else "longest_idle")
        if agent is None:
            nobody.add(key)
            continue
        pool.taken.add(agent.id)
        pairs.append((call, agent))
        remaining -= 1
        if remaining == 0:
            break
    return pairs


def expected_wait(position: int, staffed_agents: int, aht_s: float, available: int = 0) -> float:
    """Seconds until an agent reaches the caller at ``position`` (1-based).

    Callers within the number of free agents wait for nobody.  Beyond that, with
    ``n`` busy agents each freeing up every ``aht`` seconds on average, one comes
    free every ``aht / n`` seconds.  Nobody staffed gives no estimate (``inf``),
    which an announcement must not read out as a number.
    """
    ahead = position - max(0, available)
    if position <= 0 or ahead <= 0:
        return 0.0
    if staffed_agents <= 0:
        return float("inf")
    return ahead * aht_s / staffed_agents


#: How many calls the configured ``aht_s`` counts as, against the agents' measured ones: the
#: first few measured calls move the estimate without one short call halving every announced wait.
AHT_PRIOR_CALLS = 3


def handle_time(calls: int, talk_s: float, wrapup_s: float, aht_s: float) -> float:
    """Seconds an agent is busy per call: the measured talk time per call plus the wrap-up, weighed
    against the configured ``aht_s`` as if it were ``AHT_PRIOR_CALLS`` calls (only ``aht_s`` before
    any call was measured)."""
    if calls <= 0:
        return aht_s
    measured = talk_s / calls + wrapup_s
    return (calls * measured + AHT_PRIOR_CALLS * aht_s) / (calls + AHT_PRIOR_CALLS)


def should_offer_callback(position: int, expected_wait_s: float, cfg: QueueConfig) -> tuple[bool, bool]:
    """(full, offer): a full queue or a long expected wait offers a callback."""
    full = position > cfg.max_waiting
    return full, full or expected_wait_s > cfg.callback_offer_after_s
