"""The PBX's own account of every call it carried: the ground truth for tests.

The engine tells its story of a call from AMI events; these records are what
actually happened on the PBX side, so a test can compare the two.  Times are
wall-clock seconds (``time.time()``) so they line up with engine logs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field


@dataclass(slots=True)
class DialRecord:
    target: str                 # e.g. Local/1001@agents
    start: float
    status: str = ""            # DIALSTATUS: ANSWER, NOANSWER, BUSY, CHANUNAVAIL, CONGESTION, CANCEL
    answered: float | None = None
    end: float | None = None
    hangup_by: str = ""         # who ended an answered call: caller, agent, engine, pbx


@dataclass(slots=True)
class CallRecord:
    call_id: str                # Uniqueid of the channel that runs AsyncAGI (the ;2 leg)
    channel: str                # its name
    caller_channel: str         # the ;1 leg, the caller's side
    caller: str
    caller_name: str
    dialled: str
    start: float
    answered: float | None = None
    end: float | None = None
    hangup_by: str = ""         # caller, engine, agent, pbx
    cause: int = 0
    dials: list[DialRecord] = field(default_factory=list)
    digits: str = ""            # keys the caller pressed, in order
    played: list[str] = field(default_factory=list)   # sounds started on the call, in order (found ones)
    agi_commands: int = 0
    agi_sessions: int = 0
    failed: bool = False        # the originate failed (no such context/extension)
    #: A scripted caller's longest stretch of silence (PBX seconds) while the call was up:
    #: answered, and no prompt, hold music, ringback or conversation playing.
    max_silence_s: float = 0.0
    max_silence_at: float | None = None   # when that stretch began (time.time())

    @property
    def ended(self) -> bool:
        return self.end is not None

    @property
    def talked_to(self) -> str | None:
        """The endpoint that answered last, if any."""
        for d in reversed(self.dials):
            if d.status == "ANSWER":
                return d.target
        return None

    def as_dict(self) -> dict:
        return asdict(self)
