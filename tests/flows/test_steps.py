"""Flow decisions as plain functions: no I/O, no event loop."""

from __future__ import annotations

import datetime as dt

import pytest

from ivr.flows import model as m
from ivr.flows import steps
from ivr.flows.schema import parse_time_span, parse_weekdays

MENU = m.Menu(name="welcome", prompts=("p",), keys={"1": "city", "2": "province"}, tries=2,
              invalid_prompt="bad_key", timeout_prompt="no_key", on_failure="person")


def test_menu_key_goes_to_its_node():
    s = steps.menu_step(MENU, "2", 1)
    assert (s.goto, s.value, s.again) == ("province", "2", False)


def test_menu_wrong_key_then_timeout_then_failure():
    first = steps.menu_step(MENU, "7", 1)
    assert first.again and first.retry == "bad_key" and first.failure == "invalid" and first.goto is None
    second = steps.menu_step(MENU, "", 2)
    assert not second.again and second.goto == "person" and second.failure == "timeout"


def test_menu_timeout_replays_timeout_prompt():
    s = steps.menu_step(MENU, None, 1)
    assert s.again and s.retry == "no_key"


MOBILE = m.Collect(name="phone", prompts=("p",), into="callback", min_digits=11, max_digits=11,
                   pattern=r"1[3-9]\d{9}", tries=2, next="thanks", on_failure="person")


@pytest.mark.parametrize("digits,ok", [("13912345678", True), ("13912345678#", True), ("12912345678", False),
                                       ("1391234567", False), ("139123456789", False), ("1391234567a", False)])
def test_collect_mobile_number(digits, ok):
    s = steps.collect_step(MOBILE, digits, 1)
    if ok:
        assert s.goto == "thanks" and s.value == digits.rstrip("#")
    else:
        assert s.again and s.failure == "invalid" and s.value is None


def test_collect_gives_up_after_last_try():
    assert steps.collect_step(MOBILE, "", 2).goto == "person"
    assert steps.collect_step(MOBILE, "123", 2).failure == "invalid"


def test_survey_score_and_no_score():
    node = m.Survey(name="rate", prompts=("p",), scores={"1": "满意", "3": "不满意"}, tries=1, next="back")
    assert steps.survey_step(node, "3", 1).value == "不满意"
    skipped = steps.survey_step(node, "9", 1)
    assert skipped.value is None and skipped.goto == "back"


def case(**conds):
    return m.Case(conditions=conds, goto="x")


CHINA = steps.CHINA


@pytest.mark.parametrize("caller,known,area", [
    ("043388881234", ("0433",), "0433"), ("+86 433 8888 1234", ("0433",), "0433"),
    ("13900001111", ("0431",), None), ("01088881234", (), "010"), ("02488881234", (), "024"),
    ("008643188881234", ("0431",), "0431"), ("110", (), None)])
def test_caller_area(caller, known, area):
    assert steps.caller_area(caller, known) == area


def test_time_span_over_midnight():
    night = parse_time_span("22:00-08:00")
    assert night == (1320, 480)
    assert steps.in_span(23 * 60, night) and steps.in_span(7 * 60 + 59, night)
    assert not steps.in_span(8 * 60, night) and not steps.in_span(12 * 60, night)
    assert parse_time_span("24:30-08:00") is None and parse_time_span("8-17") is None


def test_weekdays():
    assert parse_weekdays("mon-fri") == (0, 1, 2, 3, 4)
    assert parse_weekdays(["sat", "sun"]) == (5, 6)
    assert parse_weekdays("fri-mon") == (0, 4, 5, 6)
    assert parse_weekdays("someday") is None


def test_calendar_conditions_with_holidays_and_weekend_workdays():
    holidays = frozenset({dt.date(2026, 10, 1)})
    workdays = frozenset({dt.date(2026, 10, 10)})          # a Saturday worked in lieu
    def facts(day, hour=10):
        return steps.Facts(now=dt.datetime(2026, 10, day, hour, 0, tzinfo=CHINA), holidays=holidays, workdays=workdays)
    assert steps.case_matches(case(holiday=True), facts(1))
    assert not steps.case_matches(case(workday=True), facts(1))           # Thursday, but National Day
    assert steps.case_matches(case(workday=True), facts(10))              # Saturday worked in lieu
    assert not steps.case_matches(case(workday=True), facts(11))          # Sunday
    assert steps.case_matches(case(weekday=(5,)), facts(10))
    assert steps.case_matches(case(workday=True, time=(510, 1020)), facts(9, 9))
    assert not steps.case_matches(case(workday=True, time=(510, 1020)), facts(9, 18))


def test_calendar_uses_china_time_whatever_zone_now_is_in():
    utc = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.timezone.utc)     # 09:00 in Changchun
    assert steps.case_matches(case(time=(480, 600)), steps.Facts(now=utc))


def test_branch_first_matching_case_else_default():
    node = m.Branch(name="b", cases=(m.Case({"caller_area": ("0433",)}, "korean"),
                                     m.Case({"var": {"matter": ("province",)}}, "province")), otherwise="city")
    f = dict(area_codes=("0431", "0433"))
    assert steps.branch_target(node, steps.Facts(caller="043312345678", **f)) == "korean"
    assert steps.branch_target(node, steps.Facts(caller="13900001111", variables={"matter": "province"}, **f)) == "province"
    assert steps.branch_target(node, steps.Facts(caller="13900001111", **f)) == "city"


def test_dialled_and_prefix_and_language_conditions():
    f = steps.Facts(caller="+8613900001111", dialled="12319", language="ko", center="yanbian")
    assert steps.case_matches(case(dialled=("12319",)), f)
    assert steps.case_matches(case(caller_prefix=("139",)), f)
    assert steps.case_matches(case(language=("ko",), center=("yanbian",)), f)
    assert not steps.case_matches(case(language=("zh",)), f)


def test_transfer_numbers_from_config():
    cfg = m.Config(hotlines={"12366": m.Hotline("12366", "纳税", "subcenter", True, "043112366")},
                   centers={"province": m.Center("province", "省", "province", "0431", numbers=("043188880000",))})
    assert steps.transfer_number(m.Target("hotline", "12366"), cfg) == "043112366"
    assert steps.transfer_number(m.Target("emergency", "119"), cfg) == "119"
    assert steps.transfer_number(m.Target("center", "province"), cfg) == "043188880000"
    assert steps.resolve_queue("$center", "jilin") == "jilin" and steps.resolve_queue("province", "jilin") == "province"
