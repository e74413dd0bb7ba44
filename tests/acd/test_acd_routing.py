"""Routing decisions as plain functions: no store, no socket, no sleeping."""

from __future__ import annotations

import math

from acd import routing
from acd.model import Agent, Call


def agent(aid, queues, skills, idle):
    return Agent(id=aid, dial=f"PJSIP/{aid}", queues=list(queues), skills=dict(skills), state="available", idle_since=idle)


def call(cid, queue, skills=(), priority=0, t=0.0, due=0.0):
    return Call(call_id=cid, queue=queue, skills=list(skills), priority=priority, enqueued_at=t, due_at=due)


def test_longest_idle_agent_gets_the_call(cfg):
    agents = [agent("a", ["changchun"], {"zh": 3}, 50), agent("b", ["changchun"], {"zh": 3}, 10),
              agent("c", ["changchun"], {"zh": 3}, 30)]
    pairs = routing.match([call("x", "changchun", ["zh"], t=100)], agents, cfg.queues, now=100)
    assert [(c.call_id, a.id) for c, a in pairs] == [("x", "b")]


def test_skill_level_policy_prefers_better_level_then_longest_idle(cfg):
    # province is configured with routing: skill_level
    agents = [agent("p1", ["province"], {"zh": 3, "expert": 2}, 1),
              agent("p2", ["province"], {"zh": 3, "expert": 5}, 90),
              agent("p9", ["province"], {"zh": 3, "expert": 5}, 80)]
    pairs = routing.match([call("x", "province", ["expert"], t=100)], agents, cfg.queues, now=100)
    assert pairs[0][1].id == "p9"


def test_priority_then_first_come_first_served(cfg):
    agents = [agent("c1", ["changchun"], {"zh": 3}, 0)]
    calls = [call("old", "changchun", t=10), call("urgent", "changchun", priority=5, t=50), call("new", "changchun", t=20)]
    assert routing.match(calls, agents, cfg.queues, 60)[0][0].call_id == "urgent"
    agents2 = [agent("c1", ["changchun"], {"zh": 3}, 0), agent("c2", ["changchun"], {"zh": 3}, 1)]
    got = [c.call_id for c, _ in routing.match(calls, agents2, cfg.queues, 60)]
    assert got == ["urgent", "old"]


def test_required_skill_must_be_held_and_does_not_block_the_line(cfg):
    agents = [agent("y2", ["yanbian"], {"zh": 4}, 0)]
    calls = [call("korean", "yanbian", ["ko"], t=1), call("chinese", "yanbian", ["zh"], t=2)]
    pairs = routing.match(calls, agents, cfg.queues, now=5)
    assert [(c.call_id, a.id) for c, a in pairs] == [("chinese", "y2")]


def test_escalation_widens_skills_then_overflows(cfg):
    c = call("x", "province", ["expert"], t=0)
    e0 = routing.eligibility(c, cfg.queues, 5)
    assert e0.skills == {"expert"} and e0.queues == ("province",)
    e1 = routing.eligibility(c, cfg.queues, 21)
    assert e1.skills == frozenset() and e1.queues == ("province",)
    e2 = routing.eligibility(c, cfg.queues, 46)
    assert e2.queues == ("province", "changchun")
    # a changchun agent takes the province call only after 45 s
    agents = [agent("c1", ["changchun"], {"zh": 4}, 0)]
    assert routing.match([c], agents, cfg.queues, 44) == []
    assert routing.match([c], agents, cfg.queues, 45)[0][1].id == "c1"


def test_drop_all_skills_with_star():
    from acd.config import Escalation, QueueConfig

    queues = {"q": QueueConfig(id="q", escalation=[Escalation(after_s=10, drop_skills=["*"])])}
    c = call("x", "q", ["ko", "enterprise"], t=0)
    assert routing.eligibility(c, queues, 9).skills == {"ko", "enterprise"}
    assert routing.eligibility(c, queues, 10).skills == frozenset()


def test_each_agent_gets_at_most_one_call_per_round(cfg):
    agents = [agent(f"a{i}", ["changchun"], {"zh": 3}, i) for i in range(3)]
    calls = [call(f"c{i}", "changchun", t=i) for i in range(10)]
    pairs = routing.match(calls, agents, cfg.queues, 100)
    assert len(pairs) == 3
    assert len({a.id for _, a in pairs}) == 3 and len({c.call_id for c, _ in pairs}) == 3
    assert [c.call_id for c, _ in pairs] == ["c0", "c1", "c2"]
    assert [a.id for _, a in pairs] == ["a0", "a1", "a2"]


def test_callback_not_routed_before_due(cfg):
    agents = [agent("c1", ["changchun"], {"zh": 3}, 0)]
    calls = [call("cb", "changchun", t=0, due=100)]
    assert routing.match(calls, agents, cfg.queues, 99) == []
    assert routing.match(calls, agents, cfg.queues, 100)[0][0].call_id == "cb"


def test_agent_serving_two_queues(cfg):
    both = agent("x", ["changchun", "province"], {"zh": 3}, 0)
    pairs = routing.match([call("p", "province", t=5), call("c", "changchun", t=1)], [both], cfg.queues, 10)
    assert [(c.call_id, a.id) for c, a in pairs] == [("c", "x")]


def test_expected_wait():
    assert routing.expected_wait(1, 4, 100, available=1) == 0
    assert routing.expected_wait(3, 4, 100, available=1) == 50
    assert routing.expected_wait(5, 0, 100) == math.inf
    assert routing.expected_wait(0, 3, 100) == 0


def test_offer_callback_when_full_or_long(cfg):
    q = cfg.queues["changchun"]          # max_waiting 3, callback_offer_after_s 250
    assert routing.should_offer_callback(3, 10, q) == (False, False)
    assert routing.should_offer_callback(4, 10, q) == (True, True)
    assert routing.should_offer_callback(2, 251, q) == (False, True)


def test_skill_level_is_weakest_required():
    a = agent("a", ["q"], {"zh": 4, "ko": 2}, 0)
    assert routing.skill_level(a, ["zh", "ko"]) == 2
    assert routing.skill_level(a, ["expert"]) == 0
    assert routing.skill_level(a, []) == 5
