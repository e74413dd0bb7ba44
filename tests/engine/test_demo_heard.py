"""The demo shows what the plan promises callers: placed by their mobile's city, told their place, offered a callback."""

from __future__ import annotations

from types import SimpleNamespace

from ivr.demo import heard


def test_heard_counts_what_callers_met():
    handed_on = [{"agent": "1101", "status": "ANSWER"}, {"transfer": "province", "by": "1101", "status": "ANSWER"}]
    records = [SimpleNamespace(located_by="mobile_segment", reason="", dialled="12345", dial_attempts=handed_on),
               SimpleNamespace(located_by="area_code", reason="callback requested while waiting: place kept",
                               dialled="12333", dial_attempts=[{"transfer": "110", "status": "ANSWER"}])]
    pbx = [SimpleNamespace(played=["ivr/zh/city_menu", "ivr/zh/queue_ahead", "ivr/zh/callback_offer"]),
           SimpleNamespace(played=["ivr/zh/queue_next"]), SimpleNamespace(played=[])]
    assert heard(records, pbx) == {"mobile_placed": 1, "heard_place": 2, "callback_offered": 1,
                                   "callback_kept_place": 1, "kept_hotline_calls": 1,
                                   "agent_transfers": 1}     # a flow's transfer (no agent asked) is not one
