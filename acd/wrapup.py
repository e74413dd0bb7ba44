"""After the call: the agent's disposition and wrap-up extension; supervisors' forced pause/logout.

Plain rules shared by the engine-facing API (:class:`acd.service.Acd`) and the ``acd``
command (acd/call_cli.py), so both refuse the same things in the same words:

- a **disposition** says what the call was about: one category of the plan's five
  (咨询 求助 投诉 举报 意见建议), optionally why the matter is out of 12345's remit (诉讼 仲裁
  纪检监察 行政复议 政府信息公开 信访 秘密/隐私 公序良俗: what the plan says 12345 does not
  accept), a note of at most :data:`NOTE_MAX` characters, and whether it needs a work order
  (else it was answered at once, 接诉即答).  Stored in Chinese, the plan's own words; the
  English keys are accepted as input.  Only the agent who talked to the call may record it,
  once the call has ended (the ACD keeps an ended call 24 h); a second one replaces the first;
- **wrap-up extension** moves the end of the agent's wrap-up later, never beyond the
  queue's ``max_wrapup_s`` counted from the call's end;
- a **forced pause or logout** is the agent's own pause/logout (kept pending while the agent
  is on a call or in wrap-up, so a call is never cut) plus an audit_log row naming the
  supervisor.
"""

from __future__ import annotations

import math
import uuid

from acd.model import AcdError, Agent, AgentState, Call, CallState
from acd.outbox import agent_key, call_key

#: English key -> the plan's word (stored form).
CATEGORIES = {"consult": "咨询", "help": "求助", "complaint": "投诉", "report": "举报", "suggestion": "意见建议"}
#: Matters 12345 does not accept (吉政办发〔2021〕16号; ../shared/domain.md), English key -> stored form.
OUT_OF_REMIT = {"litigation": "诉讼", "arbitration": "仲裁", "discipline": "纪检监察",
                "reconsideration": "行政复议", "disclosure": "政府信息公开", "petition": "信访",
                "secret": "秘密/隐私", "public_order": "公序良俗"}
#: A note is the agent's summary, not the case file (that is the work order): 500 characters.
NOTE_MAX = 500
#: Who a supervisor is, as audit_log.user holds it.
SUPERVISOR_MAX = 64
#: The pause reason a forced pause gets when the supervisor gives none.
FORCED_REASON = "supervisor"


def _word(value: str, table: dict[str, str], flag: str) -> str:
    text = str(value or "").strip()
    if text in table.values():
        return text
    key = text.lower().replace("-", "_")
    if key in table:
        return table[key]
    if flag == "--out-of-remit" and (text in ("秘密", "隐私") or key == "privacy"):
        return OUT_OF_REMIT["secret"]
    choices = ", ".join(f"{word} ({key})" for key, word in table.items())
    raise AcdError(f"{flag} {text!r}: expected one of {choices}")


def disposition_row(call_id: str, agent_id: str, category: str, *, out_of_remit: str = "", note: str = "",
                    work_order: bool = False, at: float) -> dict:
    """The ``dispositions`` row, or AcdError naming the first thing wrong with the input."""
    cat = _word(category, CATEGORIES, "--category")
    reason = _word(out_of_remit, OUT_OF_REMIT, "--out-of-remit") if str(out_of_remit or "").strip() else ""
    text = str(note or "").strip()
    if len(text) > NOTE_MAX:
        raise AcdError(f"--note: {len(text)} characters, at most {NOTE_MAX} (the details go in the work order)")
    if any(ord(ch) < 32 and ch not in "\n\t" for ch in text):
        raise AcdError("--note: control characters are not allowed")
    if reason and work_order:
        raise AcdError(f"--work-order: a matter out of remit ({reason}) gets no work order: "
                       "the caller is told where to take it")
    if not str(call_id or "").strip():
        raise AcdError("which call? give its call id")
    if not str(agent_id or "").strip():
        raise AcdError("--agent: which agent handled the call?")
    return {"call_id": str(call_id), "agent_id": str(agent_id), "category": cat, "out_of_remit": reason,
            "note": text, "work_order": bool(work_order), "at": float(at)}


def disposition_refusal(call: Call | None, call_id: str, agent_id: str) -> str:
    """Why ``agent_id`` may not record a disposition for this call now ('' when it may)."""
    if call is None:
        return f"unknown call {call_id!r} (the ACD keeps a call for 24 h after it ends)"
    if call.state in (CallState.WAITING, CallState.OFFERED):
        return f"call {call_id!r} is {call.state}: it has not reached an agent yet"
    if not call.agent_id:
        return f"call {call_id!r} ended without an agent ({call.state})"
    if call.agent_id != agent_id:
        return f"call {call_id!r} was handled by agent {call.agent_id!r}, not {agent_id!r}"
    if call.state != CallState.ENDED:
        return f"call {call_id!r} is {call.state}: record its disposition once it has ended"
    return ""


async def check_call(store, call_id: str, agent_id: str) -> Call:
    """The ended call ``agent_id`` handled, or AcdError saying why not."""
    call = await store.get_call(call_id)
    refusal = disposition_refusal(call, call_id, agent_id)
    if refusal:
        raise AcdError(refusal)
    return call


def extension_seconds(seconds) -> float:
    try:
        value = float(seconds)
    except (TypeError, ValueError):
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise AcdError(f"--seconds {seconds!r}: expected a number of seconds above 0")
    return value


async def max_wrapup_s(store, config, agent_id: str) -> float:
    """The longest wrap-up the queue of the agent's call allows (the largest of all queues when the
    call is not known any more); AcdError for an unknown agent."""
    agent = await store.get_agent(agent_id)
    if agent is None:
        raise AcdError(f"unknown agent {agent_id!r}")
    call = await store.get_call(agent.call_id) if agent.call_id else None
    queue = config.queues.get(call.queue) if call is not None else None
    if queue is not None:
        return float(queue.max_wrapup_s)
    return max(float(q.max_wrapup_s) for q in config.queues.values())


def supervisor(by: str) -> str:
    text = str(by or "").strip()
    if not text:
        raise AcdError("--by: which supervisor? (kept in the audit log)")
    if len(text) > SUPERVISOR_MAX or any(ord(ch) < 32 for ch in text):
        raise AcdError(f"--by {text[:20]!r}: at most {SUPERVISOR_MAX} printable characters")
    return text


async def check_forcible(store, agent_id: str) -> Agent:
    """The agent a supervisor may force to pause or log out: known and logged in."""
    agent = await store.get_agent(agent_id)
    if agent is None:
        raise AcdError(f"unknown agent {agent_id!r}")
    if agent.state == AgentState.LOGGED_OUT:
        raise AcdError(f"agent {agent_id!r} is logged out")
    return agent


def effect(agent: Agent) -> str:
    """When a forced action takes effect: "now", or "after the call" (kept pending)."""
    return "after the call" if agent.pending else "now"


def audit_row(by: str, action: str, agent: Agent, at: float, *, reason: str = "", before: str = "") -> dict:
    """One ``audit_log`` row for a forced pause/logout; ``event_id`` makes a replayed spool harmless."""
    import json

    detail = {"agent": agent.id, "effect": effect(agent), "state_before": before, "state": str(agent.state),
              "pending": agent.pending}
    if reason:
        detail["reason"] = reason
    return {"event_id": uuid.uuid4().hex, "at": float(at), "user": by, "role": "supervisor", "action": action,
            "detail": json.dumps(detail, ensure_ascii=False, sort_keys=True)}


class WrapupDesk:
    """Mixin of :class:`acd.service.Acd`: after the call (disposition, wrap-up extension) and supervisors."""

    async def wrapup_extend(self, agent_id: str, seconds: float) -> Agent:
        """More wrap-up time for an agent in wrap-up, up to its queue's ``max_wrapup_s`` from the
        call's end; AcdError when the agent is not in wrap-up or already at the maximum."""
        seconds = extension_seconds(seconds)
        await self.outbox.settled(agent_key(agent_id))
        max_s = await self._retry(lambda: max_wrapup_s(self.store, self.config, agent_id), "get_agent")
        agent = await self._retry(lambda: self.store.wrapup_extend(agent_id, seconds, max_s, self.clock()),
                                  "wrapup_extend")
        self._agents_seen[agent.id] = agent
        self.log.info("acd.wrapup_extended", agent=agent_id, seconds=seconds, until=agent.wrap_until)
        return agent

    async def record_disposition(self, call_id: str, agent_id: str, category: str, *, out_of_remit: str = "",
                                 note: str = "", work_order: bool = False, done: bool = False
                                 ) -> tuple[dict, Agent | None]:
        """The agent who handled an ended call says what it was about (acd.wrapup); kept in the
        records database (table ``dispositions``, through the records writer), replacing an earlier
        one.  ``done`` ends the agent's wrap-up for that call now.  Returns (the row, the agent when
        ``done``).  AcdError for bad input, the wrong agent, a call not ended, or no records writer."""
        now = self.clock()
        row = disposition_row(call_id, agent_id, category, out_of_remit=out_of_remit, note=note,
                                     work_order=work_order, at=now)
        if self.records_sink is None:
            raise AcdError("no records database on this node: the disposition cannot be kept")
        await self.outbox.settled(call_key(call_id))
        await self._retry(lambda: check_call(self.store, call_id, agent_id), "get_call")
        self.records_sink("disposition", row)       # a failing sink raises: nothing was kept
        self.log.info("acd.disposition", call_id=call_id, agent=agent_id, category=row["category"],
                      out_of_remit=row["out_of_remit"], work_order=row["work_order"])
        if not done:
            return row, None
        await self.outbox.settled(agent_key(agent_id))
        agent, ended = await self._retry(lambda: self.store.wrapup_done(agent_id, call_id, self.clock()),
                                         "wrapup_done")
        self._agents_seen[agent.id] = agent
        if ended:
            self._history(agent.id, agent.state, self.clock(), reason=agent.reason, call_id=call_id)
            self._kick.set()
        return row, agent

    async def force_pause(self, agent_id: str, by: str, reason: str = "") -> Agent:
        """A supervisor pauses an agent: at once when idle, when the call and its wrap-up end
        otherwise (never cutting a call); an audit_log row names the supervisor."""
        return await self._forced(agent_id, by, "pause", reason)

    async def force_logout(self, agent_id: str, by: str) -> Agent:
        """As :meth:`force_pause`, logging the agent out."""
        return await self._forced(agent_id, by, "logout", "")

    async def _forced(self, agent_id: str, by: str, action: str, reason: str) -> Agent:
        by = supervisor(by)
        if self.records_sink is None:
            raise AcdError(f"no records database on this node: a forced {action} must be audited")
        await self.outbox.settled(agent_key(agent_id))
        before = await self._retry(lambda: check_forcible(self.store, agent_id), "get_agent")
        reason = ((reason or "").strip() or FORCED_REASON) if action == "pause" else ""
        agent = await self._agent_action(agent_id, action, reason)
        self.records_sink("audit", audit_row(by, f"force_{action}", agent, self.clock(), reason=reason,
                                                    before=str(before.state)))
        return agent
