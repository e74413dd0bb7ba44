"""The ACD as the engine may use it: one typed interface, implemented by :class:`acd.service.Acd`.

The engine (ivr/) holds an ``AcdApi`` and nothing else of the ACD: not its store
(where the state lives is the ACD's business; several nodes share it), not its
config (the engine asks for the few terms it needs to hold a caller).  So the ACD
can change how it keeps its state, or move to another process, without the
engine noticing; tests/engine/test_acd_boundary.py reads ivr/ to hold this.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Protocol, runtime_checkable

from acd.model import Agent, Call, CallRequest, EnqueueResult, Offer
from acd.records import CallRecord
from acd.supervision import SpyRequest
from acd.transfers import TransferRequest


@dataclass(frozen=True, slots=True)
class QueueTerms:
    """What the engine must know of a queue to hold a caller in it (config/acd.yaml)."""

    id: str
    wrapup_s: float                 # the agent's wrap-up after each call
    announce_every_s: float         # place-in-line announcements
    callback_offer_after_s: float   # offer a callback that keeps the place after this wait
    record: bool = True             # conversations with its agents are recorded (callers told first)


@dataclass(frozen=True, slots=True)
class CallbackTerms:
    enabled: bool                   # missed callers are rung back
    originate_grace_s: float        # how long an agent's callback leg may take to ring


@runtime_checkable
class AcdApi(Protocol):
    #: The ACD's clock (it may run faster than real time under the built-in PBX).
    clock: Callable[[], float]

    # -- life cycle (the runtime) -------------------------------------------------------------
    async def start(self, *, loops: bool = True) -> None: ...
    async def stop_loops(self) -> None:
        """Stop dispatching and listening; the writes of calls still ending keep landing."""
    async def stop(self, flush_s: float = 5.0) -> None: ...
    @property
    def status(self) -> dict: ...
    def attach_records(self, sink: Callable[[str, dict], None] | None,
                       health: Callable[[], str] | None = None) -> None: ...

    # -- agents and terms -----------------------------------------------------------------------
    async def login(self, agent_id: str) -> Agent: ...
    def queue_ids(self) -> list[str]: ...
    def queue_terms(self, queue_id: str) -> QueueTerms: ...
    def callback_terms(self) -> CallbackTerms: ...

    # -- a caller's life ----------------------------------------------------------------------
    async def enqueue(self, request: CallRequest) -> EnqueueResult: ...
    async def wait_offer(self, call_id: str) -> Offer: ...
    async def get_call(self, call_id: str) -> Call | None: ...
    async def ring_result(self, call_id: str, agent_id: str, status: str) -> str: ...
    async def call_ended(self, call_id: str, agent_id: str, talk_s: float) -> bool: ...
    async def abandoned(self, call_id: str) -> str: ...
    async def position(self, call_id: str) -> tuple[int, float]: ...
    async def request_callback(self, call_id: str) -> bool: ...
    async def record(self, record: CallRecord | dict[str, Any]) -> None: ...

    # -- transfers an agent starts (acd/transfers.py) -------------------------------------------
    async def request_transfer(self, call_id: str, target: str, *, kind: str = "blind",
                               agent_id: str | None = None, skills: list[str] | None = None) -> TransferRequest: ...
    async def wait_transfer(self, call_id: str) -> TransferRequest:
        """While the call is connected: the next transfer request for it.  Cancellable."""
    async def return_to_agent(self, call_id: str, agent_id: str) -> Offer | None: ...

    # -- supervisors on live calls (acd/supervision.py) -------------------------------------------
    async def request_spy(self, call_id: str, supervisor: str, mode: str = "listen") -> SpyRequest: ...
    async def wait_spies(self, call_id: str, handled: set[str]) -> list[SpyRequest]:
        """While the call is connected: the supervisors' requests not yet ``handled``.  Cancellable."""
    def spy_audit(self, req: SpyRequest, agent_id: str, outcome: str) -> None:
        """The audit trail of a supervisor on a call: ``outcome`` started | failed."""

    # -- after the call and supervisors (acd/wrapup.py) -------------------------------------------
    async def wrapup_extend(self, agent_id: str, seconds: float) -> Agent: ...
    async def record_disposition(self, call_id: str, agent_id: str, category: str, *, out_of_remit: str = "",
                                 note: str = "", work_order: bool = False, done: bool = False
                                 ) -> tuple[dict, Agent | None]: ...
    async def force_pause(self, agent_id: str, by: str, reason: str = "") -> Agent: ...
    async def force_logout(self, agent_id: str, by: str) -> Agent: ...

    # -- callbacks (the dialer) ---------------------------------------------------------------
    async def next_callback(self, timeout_s: float | None = None) -> Offer | None: ...
    async def callback_result(self, call_id: str, agent_id: str, status: str, party: str = "caller",
                              reason: str = "") -> str: ...
