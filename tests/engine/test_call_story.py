"""``ivr call``'s story: only the test caller's events, told in order, ended by its own hang-up."""

from __future__ import annotations

from ivr.ami.protocol import Message
from ivr.commands.call import Story


def ev(event, **headers):
    return Message.build(("Event", event), **headers)


def test_story_follows_only_the_test_call():
    story = Story(caller="043188880000", number="12345", start=100.0)
    other = ev("AsyncAGIStart", Channel="Local/12345@hotline-in-0001;2", CallerIDNum="13900000000", Linkedid="L1")
    assert story.line(other, 100.5) is None
    mine = ev("AsyncAGIStart", Channel="Local/12345@hotline-in-0002;2", CallerIDNum="043188880000",
              Linkedid="L2", Context="hotline-in")
    assert story.line(mine, 101.0) == "   1.0 s  the engine has the call (Local/12345@hotline-in-0002;2, context hotline-in)"
    assert story.line(ev("AGIExecStart", Command="EXEC Dial Local/1101@agents,15", Linkedid="L1"), 102) is None
    assert story.line(ev("DialBegin", DestChannel="Local/1101@agents-0003;1", DialString="1101@agents",
                         Linkedid="L2"), 110.0).endswith("rings Local/1101@agents-0003;1 (1101@agents)")
    story.line(ev("DialEnd", DestChannel="Local/1101@agents-0003;1", DialStatus="ANSWER", Linkedid="L2"), 112.0)
    story.line(ev("Hangup", Channel="Local/1101@agents-0003;1", Linkedid="L2", **{"Cause-txt": "Normal Clearing"}), 130)
    assert not story.ended
    story.line(ev("Hangup", Channel="Local/12345@hotline-in-0002;2", Linkedid="L2"), 131.0)
    assert story.ended
    assert story.summary(31.0) == "call ended after 31.0 s; reached Local/1101@agents-0003;1 after 12.0 s"


def test_a_call_that_never_reached_the_engine_says_where_to_look():
    story = Story(caller="043188880000", number="12366")
    assert "does [hotline-in] send 12366 to AGI(agi:async)" in story.summary(120)
