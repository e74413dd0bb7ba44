"""Rebuilding the shared state after Redis lost it: all of it, or its last writes.

Each node re-asserts what it alone knows: the callers it holds (waiting ones at
their old place, offered and connected ones with their agent) and the agents as it
last saw them.

- :func:`restore`: Redis came back empty (its ``epoch`` changed).  Agents who were on a
  call are held in wrap-up for :data:`RECOVERY_HOLD_S` so the node holding that call can
  claim them back first.
- :func:`reconcile`: another server answers with the same data set (a Sentinel failover
  to a replica, a restart from AOF or RDB), so the writes it had not received are lost:
  the node compares each call it holds, and each it let go of lately (:class:`Left`),
  with the store's copy and tells again what the store is missing, with the scripts that
  made those writes (lua.RESTORE_CALL, RING_RESULT, CALL_ENDED, ABANDON), which keep the
  invariants (docs/acd.md): none of them binds an agent already bound to another call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

from acd.config import AcdConfig
from acd.model import ANSWERED, Agent, AgentState, Call, CallKind, CallState
from acd.store import Store

#: Agents whose call was in flight when Redis lost its data are kept out of routing
#: this long, so the node holding that call can re-assert it first.
RECOVERY_HOLD_S = 30.0


async def restore(store: Store, config: AcdConfig, agents_seen: Iterable[Agent], calls: Iterable[Call],
                  now: float) -> list[str]:
    """Returns the calls not restored as given: ended meanwhile, or their agent already bound to
    another node's call (lua.RESTORE_CALL: an offered one waits again, a connected one keeps no agent)."""
    # Agents first (only where nobody restored them yet), then the config adds the rest
    # as logged out: the other order would leave every agent logged out.
    for agent in agents_seen:
        restored = Agent.from_dict(agent.to_dict())
        if restored.state in (AgentState.RINGING, AgentState.TALKING, AgentState.WRAPUP):
            restored.state, restored.call_id = AgentState.WRAPUP, ""
            restored.wrap_until = now + RECOVERY_HOLD_S
        await store.restore_agent(restored)
    await store.sync_agents(config.agents, now)
    refused: list[str] = []
    for call in calls:
        if not await _restore_call(store, config, call, now):
            refused.append(call.call_id)
    return refused


async def _restore_call(store: Store, config: AcdConfig, call: Call, now: float) -> bool:
    """lua.RESTORE_CALL; an offered call's ring is still in progress here: a fresh deadline."""
    if call.state == CallState.OFFERED:
        call = Call.from_dict(call.to_dict())
        call.offer_until = max(call.offer_until, now + _queue(config, call).ring_timeout_s + config.offer_grace_s)
    return await store.restore_call(call, now)


def hold_until(epoch: str, now: float, window_s: float) -> float:
    """No dispatching before this: every node re-asserts its callers before any agent is claimed."""
    created = epoch.rpartition("@")[2]
    try:
        return float(created) + window_s
    except ValueError:
        return now + window_s


# -- a failover lost the last writes ------------------------------------------------------------

#: How long a node remembers the calls it let go of, to tell the store again if a failover
#: lost that: longer than a failover takes to be noticed.
LEFT_KEEP_S = 300.0

#: The ring result that puts back an offer whose report the store lost (not a miss: the
#: agent's own report, whatever it was, is what the store lost).
REQUEUE_STATUS = "CANCEL"

_LIVE = (CallState.WAITING, CallState.OFFERED, CallState.CONNECTED)


@dataclass(slots=True)
class Left:
    """A call this node let go of lately, as it told the store."""

    call_id: str
    at: float                     # when (the node's clock)
    agent_id: str = ""            # ended: the agent it talked to
    talk_s: float | None = None   # ended: the talk time; None: the caller left before an agent answered
    call: Call | None = None      # the node's last view of it (to put it back if every write was lost)


async def reconcile(store: Store, config: AcdConfig, held: Iterable[Call], left: Iterable[Left], now: float, *,
                    pending: Callable[[str], bool] = lambda call_id: False,
                    callback_for: Callable[[str], Awaitable[dict | None]] | None = None) -> dict[str, str]:
    """After a failover: bring the store up to what this node holds; returns the calls told
    again, each with what was told (restored, requeued, answered, ended, abandoned).

    ``held`` are the node's live calls, its own view (the engine's channels); ``left`` the
    calls it let go of lately; ``pending(call_id)`` whether a write about that call still waits
    in the node's outbox (it will move the store on by itself); ``callback_for(call_id)`` the
    callback an abandoned caller gets.  The store may be behind (writes lost) or ahead (another
    node moved on): only what is behind is told again, so running it twice changes nothing.
    """
    left = list(left)
    gone = {g.call_id for g in left}
    held = [c for c in held if c.call_id not in gone]
    ids = [g.call_id for g in left] + [c.call_id for c in held]
    if not ids:
        return {}
    stored = dict(zip(ids, await store.get_calls(ids)))
    told: dict[str, str] = {}
    for g in left:
        if not pending(g.call_id):
            what = await _tell_left(store, config, g, stored[g.call_id], now, callback_for)
            if what:
                told[g.call_id] = what
    for call in held:
        what = await _tell_held(store, config, call, stored[call.call_id], now, pending(call.call_id))
        if what:
            told[call.call_id] = what
    return told


async def _tell_held(store: Store, config: AcdConfig, call: Call, cur: Call | None, now: float, busy: bool) -> str:
    """One call the node holds (``call``, as it stands here, with the number of the last offer
    the node accepted in ``rings``) against the store's copy ``cur``.  The node's view moves
    with what it accepts and reports: waiting means it is done with every offer up to ``rings``."""
    if cur is None:                                   # its enqueue was lost (and all after it)
        if busy and call.state == CallState.WAITING:
            return ""                                 # its enqueue (or report) is on its way
        await _restore_call(store, config, call, now)
        return "restored"
    if cur.state not in _LIVE:
        return ""                                     # ended meanwhile: not for a restore to undo
    misses = _queue(config, call).max_misses
    if call.state == CallState.WAITING:
        if cur.state == CallState.OFFERED and cur.rings <= call.rings and not busy:
            # an offer the node is done with (its report was lost): back in line, the agent freed
            await store.ring_result(call.call_id, cur.agent_id, REQUEUE_STATUS, now, misses)
            return "requeued"
        if cur.state == CallState.WAITING and cur.rings < call.rings:
            # a claim the node was given is lost: the next offer must carry a newer number
            # than that one, or the node would take it for a late notice and ignore it
            await _restore_call(store, config, call, now)
            return "restored"
        return ""
    if call.state == CallState.OFFERED:
        # the claim was lost (waiting, or still offered to the agent before, with an older number)
        behind = cur.state == CallState.WAITING or (
            cur.state == CallState.OFFERED and cur.agent_id != call.agent_id and cur.rings < call.rings)
        if not behind:
            return ""
        if cur.state == CallState.OFFERED:
            await store.ring_result(call.call_id, cur.agent_id, REQUEUE_STATUS, now, misses)
        await _restore_call(store, config, call, now)
        return "restored"
    if call.state == CallState.CONNECTED and cur.state != CallState.CONNECTED:
        # the answer was lost: a late ANSWER stands (lua.RING_RESULT) unless the agent talks on another call
        if await store.ring_result(call.call_id, call.agent_id, ANSWERED, now, misses) == "stale":
            if cur.state == CallState.OFFERED and cur.agent_id != call.agent_id:
                await store.ring_result(call.call_id, cur.agent_id, REQUEUE_STATUS, now, misses)
            await _restore_call(store, config, call, now)      # connected, with no agent (lua.RESTORE_CALL)
        return "answered"
    return ""


async def _tell_left(store: Store, config: AcdConfig, gone: Left, cur: Call | None, now: float,
                     callback_for: Callable[[str], Awaitable[dict | None]] | None) -> str:
    """A call the node let go of that the store still has live, or lost altogether: it ended,
    or its caller left."""
    if cur is None:
        # every write about it was lost: put it back as it stood here, then end it as it ended,
        # so that its record, its agent's figures (and an abandoned caller's callback) exist
        if gone.call is None or gone.call.kind != CallKind.CALL:
            return ""
        cur = Call.from_dict(gone.call.to_dict())
        if gone.talk_s is None:
            cur.state, cur.agent_id, cur.offer_until = CallState.WAITING, "", 0.0
        else:
            cur.state, cur.agent_id, cur.answered_at = CallState.CONNECTED, gone.agent_id, gone.at - gone.talk_s
        await store.restore_call(cur, now)
        cur = await store.get_call(gone.call_id)
    if cur is None or cur.state not in _LIVE:
        return ""
    cfg = _queue(config, cur)
    if gone.talk_s is None:                           # hung up (or turned into a callback) before an answer
        if cur.state == CallState.CONNECTED or cur.kind != CallKind.CALL:
            return ""
        await store.abandon(gone.call_id, now, await callback_for(gone.call_id) if callback_for else None)
        return "abandoned"
    if cur.state == CallState.CONNECTED:
        if cur.agent_id not in (gone.agent_id, ""):
            return ""
        await store.call_ended(gone.call_id, cur.agent_id, gone.talk_s, gone.at, cfg.wrapup_s)
        return "ended"
    # the answer was lost as well: answered, then ended, as it happened
    answered_at = gone.at - gone.talk_s
    agent = gone.agent_id
    if await store.ring_result(gone.call_id, agent, ANSWERED, answered_at, cfg.max_misses) != "connected":
        # the store has the agent on another call (one whose end another node has yet to tell
        # again, perhaps): connected with no agent then (lua.RESTORE_CALL), so that it can end
        cur = await store.get_call(gone.call_id)
        if cur is None or cur.state not in _LIVE:
            return ""
        if cur.state == CallState.OFFERED and cur.agent_id != agent:
            await store.ring_result(gone.call_id, cur.agent_id, REQUEUE_STATUS, now, cfg.max_misses)
        cur.state, cur.agent_id, cur.answered_at, cur.offer_until = CallState.CONNECTED, agent, answered_at, 0.0
        await store.restore_call(cur, now)
        cur = await store.get_call(gone.call_id)
        agent = cur.agent_id if cur is not None else agent
    await store.call_ended(gone.call_id, agent, gone.talk_s, gone.at, cfg.wrapup_s)
    return "ended"


def _queue(config: AcdConfig, call: Call):
    return config.queues.get(call.queue) or next(iter(config.queues.values()))
