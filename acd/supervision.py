"""Supervisors on live calls: listen, whisper (coach the agent; the caller does not hear), barge.

As with transfers (acd/transfers.py), anyone may ask on any node and only the caller's
owner acts: a request is one atomic write on a connected call (:meth:`Store.request_spy`,
lua_transfer.REQUEST_SPY), published as ``spy:<call id>``; the owner, waiting in
:meth:`SpyDesk.wait_spies` while the conversation lasts, rings the supervisor's phone
into Asterisk's ChanSpy on the agent's leg (ivr/engine/supervision.py).  Several
supervisors may be on one call at once, each once per mode; a supervisor ends a spy by
hanging up, and every spy ends with the agent's leg (ChanSpy option ``E``).

Who listened to what and when goes to the records database's audit_log, written by the
owner when the spy starts (the request alone proves nothing: the call may end first).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import asdict, dataclass

from acd.config import AcdConfig
from acd.model import AcdError, CallState
from acd.transfers import owner_wait
from hotline import log

#: Mode -> ChanSpy options (../shared/ami-captures/transfers.md, f): q quiet (no beep, no
#: name), E end with the spyee, w whisper to the agent, B barge (both hear).
MODES = {"listen": "qE", "whisper": "qEw", "barge": "qEB"}


@dataclass(frozen=True, slots=True)
class SpyRequest:
    id: str
    call_id: str
    supervisor: str
    dial: str                    # the supervisor's phone (config/acd.yaml supervisors)
    mode: str                    # listen | whisper | barge
    at: float = 0.0

    @classmethod
    def from_dict(cls, data: dict) -> "SpyRequest | None":
        try:
            return cls(**{k: data[k] for k in cls.__slots__ if k in data})
        except TypeError:
            return None


def spies_of(call) -> list[SpyRequest]:
    """The spy requests kept on a call (``Call.spies``, a JSON list), oldest first."""
    try:
        items = json.loads(call.spies) if call is not None and call.spies else []
    except ValueError:
        return []
    found = [SpyRequest.from_dict(d) for d in items if isinstance(d, dict)]
    return [s for s in found if s is not None]


def build_request(config: AcdConfig, call, call_id: str, *, supervisor: str, mode: str, now: float) -> SpyRequest:
    if mode not in MODES:
        raise AcdError(f"mode {mode!r}: one of {', '.join(MODES)}")
    dial = config.supervisors.get(supervisor)
    if dial is None:
        known = ", ".join(sorted(config.supervisors)) or "none in config/acd.yaml"
        raise AcdError(f"unknown supervisor {supervisor!r} (supervisors: {known})")
    if call is None:
        raise AcdError(f"unknown call {call_id!r} (never queued, or ended over a day ago)")
    if call.state != CallState.CONNECTED:
        raise AcdError(f"call {call_id} is not talking to an agent (state: {call.state})")
    return SpyRequest(id=uuid.uuid4().hex[:12], call_id=call_id, supervisor=supervisor, dial=dial, mode=mode, at=now)


async def request(store, config: AcdConfig, call_id: str, *, supervisor: str, mode: str, now: float) -> SpyRequest:
    """Ask the caller's owner to put ``supervisor`` on the call (the CLI's and the console's way in)."""
    req = build_request(config, await store.get_call(call_id), call_id, supervisor=supervisor, mode=mode, now=now)
    refusal = await store.request_spy(call_id, json.dumps(asdict(req), ensure_ascii=False), now)
    if refusal:
        raise AcdError(refusal)
    return req


class SpyDesk:
    """Mixin of :class:`acd.service.Acd`: the owner's side of supervisors' requests."""

    async def request_spy(self, call_id: str, supervisor: str, mode: str = "listen") -> SpyRequest:
        req = await request(self.store, self.config, call_id, supervisor=supervisor, mode=mode, now=self.clock())
        log.get("acd", call_id=call_id, node=self.node_id).info("acd.spy_requested", supervisor=supervisor, mode=mode)
        return req

    async def wait_spies(self, call_id: str, handled: set[str]) -> list[SpyRequest]:
        """While the call is connected: the spy requests not yet ``handled`` (by id).  Cancellable."""
        async def read():
            try:
                call = await self.store.get_call(call_id)
            except Exception as exc:    # the store away: the next poll looks again
                log.get("acd", call_id=call_id, node=self.node_id).debug("acd.spy_poll_failed", error=str(exc))
                return None
            if call is None or call.state != CallState.CONNECTED:
                return None
            return [s for s in spies_of(call) if s.id not in handled]

        return await owner_wait(self._spy_waiters, call_id, read, "supervisors")

    def spy_audit(self, req: SpyRequest, agent_id: str, outcome: str) -> None:
        """Who listened to which call and agent, how, and when (audit_log, through the records writer)."""
        row = {"event_id": f"spy-{req.id}-{outcome}", "at": float(self.clock()), "user": req.supervisor,
               "role": "supervisor", "action": f"call_{req.mode}",
               "detail": json.dumps({"call_id": req.call_id, "agent": agent_id, "outcome": outcome,
                                     "asked_at": req.at}, ensure_ascii=False, sort_keys=True)}
        log.get("acd", call_id=req.call_id, node=self.node_id).info(
            "acd.spy", supervisor=req.supervisor, mode=req.mode, agent=agent_id, outcome=outcome)
        if self.records_sink is not None:
            self.records_sink("audit", row)

    def _spy_notice(self, call_id: str) -> None:
        wake = self._spy_waiters.get(call_id)
        if wake is not None:
            wake.set()
