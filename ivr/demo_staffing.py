"""How many agents the demo seats, and where, from its own callers and Erlang C.

The demo's callers are known before the first one rings (a seeded stream), and the
shipped flows decide which queue each one reaches; walking every caller through
the flows (the ``ivr simulate`` interpreter, no PBX) gives each queue's load.  A
queue's agents only serve that queue within the 15 s that count, so each queue
is sized on its own with :func:`seats.erlang.agents_needed`; pooling all the load
into one Erlang C figure would promise a service level the split seats cannot give.
Every agent of a queue has every skill that queue's callers ask for, so a queue
is one pool and Erlang C's figure is what it should reach.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter, defaultdict
from dataclasses import dataclass

from seats import erlang

#: The demo's callers call on a working Wednesday morning, whenever it is run: branches on
#: office hours (expert seats, Korean hours) must not depend on the wall clock.
DEMO_AT = dt.datetime(2026, 12, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8)))

#: Mean time from the phone ringing to the agent answering (the demo agents' 1-4 s).
ANSWER_DELAY_S = 2.5


@dataclass(frozen=True)
class QueuePlan:
    queue: str
    calls: int                    # of the demo's callers, how many the flows put in this queue
    skills: tuple[str, ...]       # every skill its callers ask for
    load_erlangs: float
    agents: int                   # answering agents seated here
    expected_sl: float            # Erlang C's share answered within the target, with those agents


@dataclass(frozen=True)
class DemoStaffing:
    queues: tuple[QueuePlan, ...]
    target_sl: float
    within_s: float
    aht_s: float
    sized: bool                   # True: Erlang C chose the numbers; False: --agents did
    to_queue: int                 # callers the flows put in a queue (the rest: transfers, IVR)

    @property
    def answering(self) -> int:
        return sum(q.agents for q in self.queues)

    @property
    def expected_sl(self) -> float | None:
        """Erlang C's service level over all queued calls (each queue weighted by its calls)."""
        total = sum(q.calls for q in self.queues)
        return sum(q.expected_sl * q.calls for q in self.queues) / total if total else None


def queue_demand(scripts, flows_dir=None, config_dir=None) -> tuple[dict[str, int], dict[str, set[str]]]:
    """Calls and skills per queue, by walking each scripted caller through the shipped flows."""
    from ivr.flows import simulate as sim
    from ivr.flows.registry import FlowRegistry
    from hotline import paths

    flowset = FlowRegistry(flows_dir or paths.flows_dir(), config_dir or paths.config_dir()).load()
    calls: Counter = Counter()
    skills: dict[str, set[str]] = defaultdict(set)
    for _, script in scripts:
        walk = sim.simulate(flowset, dialled=script.did, caller=script.number, at=DEMO_AT,
                            presses=[key or "" for _, key in script.keys])
        outcome = walk.result.outcome or {}
        if outcome.get("kind") == "queue" and outcome.get("queue"):
            calls[outcome["queue"]] += 1
            skills[outcome["queue"]].update(outcome.get("skills") or ())
    return dict(calls), dict(skills)


def _evaluate(agents: int, calls: int, span_s: float, aht_s: float, within_s: float) -> float:
    return erlang.evaluate_c(agents, calls, span_s, aht_s, within_s).service_level


def plan(calls: dict[str, int], skills: dict[str, set[str]], *, span_s: float, aht_s: float,
         target_sl: float, within_s: float, agents: int | None = None) -> DemoStaffing:
    """Size each queue for the target, or share ``agents`` out (largest load first) when given."""
    order = sorted(calls, key=lambda q: (-calls[q], q))
    if agents is None:
        counts = {q: max(1, erlang.agents_needed(calls[q], span_s, aht_s, target_sl, within_s).agents)
                  for q in order}
    else:
        counts = _share(agents, order, calls)
    rows = tuple(QueuePlan(q, calls[q], tuple(sorted(skills.get(q, ()))), calls[q] * aht_s / span_s,
                           counts[q], _evaluate(counts[q], calls[q], span_s, aht_s, within_s))
                 for q in order)
    return DemoStaffing(rows, target_sl, within_s, aht_s, agents is None, sum(calls.values()))


def _share(agents: int, order: list[str], calls: dict[str, int]) -> dict[str, int]:
    """``agents`` over the queues in proportion to their calls, one each first while they last."""
    counts = {q: 0 for q in order}
    for q in order[:agents]:
        counts[q] = 1
    left = agents - sum(counts.values())
    total = sum(calls.values()) or 1
    exact = {q: left * calls[q] / total for q in order}
    for q in order:
        counts[q] += math.floor(exact[q])
    rest = left - sum(math.floor(v) for v in exact.values())
    for q in sorted(order, key=lambda q: (-(exact[q] - math.floor(exact[q])), q))[:rest]:
        counts[q] += 1
    return counts
