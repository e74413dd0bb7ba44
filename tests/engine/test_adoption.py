"""Adopting a caller whose node died, by where the ACD says the call was."""

from __future__ import annotations

from acd.model import Call, CallState
from ivr.engine.ownership import Adoption
from ivr.engine.records import CallRecord


class _Acd:
    """Only what Adoption reads: the ACD's record of the call."""

    def __init__(self, call: Call):
        self.call = call

    async def get_call(self, call_id: str) -> Call | None:
        return self.call if call_id == self.call.call_id else None


class _Call:
    call_id = "pbx1-1.9"
    hung_up = False

    def __init__(self):
        self.interrupted = 0

    async def interrupt(self) -> None:
        self.interrupted += 1


async def test_a_call_past_its_conversation_is_answered_not_served_again():
    """Seen with two nodes: a starved node was in the survey when the other adopted its
    caller, which then heard the menu from the start and was counted twice."""
    state = Call(call_id="pbx1-1.9", queue="changchun", state=CallState.ENDED, agent_id="1001",
                 answered_at=50.0, ended_at=80.0)
    menu_runs: list[str] = []

    async def program(call, record):
        menu_runs.append(call.call_id)

    call, record = _Call(), CallRecord(call_id="pbx1-1.9", channel="Local/x;2", caller="", caller_name="",
                                       dialled="12345", node="b")
    await Adoption(_Acd(state), services=None, program=program, link=None)(call, record)
    assert (record.outcome, record.agent, record.queue) == ("answered", "1001", "changchun")
    assert record.reason == "adopted (ended)" and record.agent_answered is not None
    assert menu_runs == [] and call.interrupted == 0


async def test_a_call_never_queued_starts_the_flow_again():
    call, record = _Call(), CallRecord(call_id="pbx1-1.9", channel="Local/x;2", caller="", caller_name="",
                                       dialled="12345", node="b")
    runs: list[str] = []

    async def program(c, r):
        runs.append(c.call_id)

    await Adoption(_Acd(Call(call_id="other", queue="q")), services=None, program=program, link=None)(call, record)
    assert runs == ["pbx1-1.9"] and call.interrupted == 1 and record.reason == "adopted (not queued)"
