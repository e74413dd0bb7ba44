"""Rebuilding the shared state after Redis came back empty (its ``epoch`` changed).

Each node re-asserts what it alone knows: the callers it holds (waiting ones at
their old place, offered and connected ones with their agent) and the agents as it
last saw them.  Agents who were on a call are held in wrap-up for
:data:`RECOVERY_HOLD_S` so the node holding that call can claim them back first.
"""

from __future__ import annotations

from typing import Iterable

from acd.config import AcdConfig
from acd.model import Agent, AgentState, Call, CallState
from acd.store import Store

#: Agents whose call was in flight when Redis lost its data are kept out of routing
#: this long, so the node holding that call can re-assert it first.
RECOVERY_HOLD_S = 30.0


async def restore(store: Store, config: AcdConfig, agents_seen: Iterable[Agent], calls: Iterable[Call],
                  now: float) -> None:
    # Agents first (only where nobody restored them yet), then the config adds the rest
    # as logged out: the other order would leave every agent logged out.
    for agent in agents_seen:
        restored = Agent.from_dict(agent.to_dict())
        if restored.state in (AgentState.RINGING, AgentState.TALKING, AgentState.WRAPUP):
            restored.state, restored.call_id = AgentState.WRAPUP, ""
            restored.wrap_until = now + RECOVERY_HOLD_S
        await store.restore_agent(restored)
    await store.sync_agents(config.agents, now)
    for call in calls:
        if call.state == CallState.OFFERED:
            # the ring is still in progress here: give it a fresh deadline
            cfg = config.queues.get(call.queue)
            ring = cfg.ring_timeout_s if cfg else 15.0
            call.offer_until = max(call.offer_until, now + ring + config.offer_grace_s)
        await store.restore_call(call, now)


def hold_until(epoch: str, now: float, window_s: float) -> float:
    """No dispatching before this: every node re-asserts its callers before any agent is claimed."""
    created = epoch.rpartition("@")[2]
    try:
        return float(created) + window_s
    except ValueError:
        return now + window_s
