"""Callback numbers and dial strings (acd/phone.py): what may be rung back, what may reach a Dial."""

from __future__ import annotations

import pytest

from acd import phone
from hotline.log import mask


@pytest.mark.parametrize("raw, number", [
    ("13912345678", "13912345678"),          # mobile
    ("19912345678", "19912345678"),
    ("043188881234", "043188881234"),        # Changchun, 8-digit subscriber
    ("04338123456", "04338123456"),          # Yanbian, 7-digit subscriber
    ("01062345678", "01062345678"),          # Beijing
    ("02087654321", "02087654321"),          # Guangzhou
    ("+8613912345678", "13912345678"),       # the same numbers written internationally
    ("008613912345678", "13912345678"),
    ("8613912345678", "13912345678"),
    ("+8643188881234", "043188881234"),
    (" 13912345678 ", "13912345678"),
    ("+821012345678", "00821012345678"),     # a Korean mobile: dialled with China's 00 prefix
])
def test_dialable_numbers_are_normalised(raw, number):
    assert phone.callback_number(raw) == number


@pytest.mark.parametrize("raw, why", [
    ("", "withheld"), ("anonymous", "withheld"), ("Unknown", "withheld"), ("<unknown>", "withheld"),
    ("110", "service or short"), ("12345", "service or short"), ("10086", "service or short"),
    ("95555", "service or short"), ("4008123456", "service or short"), ("666", "service or short"),
    ("88881234", "without its area code"),
    ("12912345678", "not a mobile"),
    ("04310123456", "not a fixed line"), ("0431888", "not a fixed line"),
    ("666@agents", "only digits"), ("1391234567x", "only digits"), ("139 1234 5678", "only digits"),
    ("13912345678,,t", "only digits"), ("1391234\r\n5678", "only digits"), ("１３９１２３４５６７８", "only digits"),
    ("+123", "8 to 15 digits"), ("+1234567890123456", "8 to 15 digits"),
    ("9" * 40, "too long"),
])
def test_unusable_numbers_are_refused_with_a_reason(raw, why):
    with pytest.raises(phone.BadNumber, match=why):
        phone.callback_number(raw)


def test_non_strings_are_refused():
    with pytest.raises(phone.BadNumber):
        phone.callback_number(None)


def test_mask_keeps_prefix_and_last_digits_only():
    assert mask("13912345678") == "139****5678"
    assert mask("043188881234") == "043*****1234"
    assert mask("666") == "*66"
    assert mask("anonymous") == "<9 chars>"
    assert mask("") == "<none>"


def test_local_channel_from_checked_parts():
    assert phone.local_channel("13912345678", "hotline-out") == "Local/13912345678@hotline-out"
    assert phone.local_channel("+8613912345678", "hotline_out2") == "Local/+8613912345678@hotline_out2"


@pytest.mark.parametrize("exten, context", [
    ("666@agents", "hotline-out"),           # the injection seen in the field
    ("13912345678,30", "hotline-out"),
    ("139&Local/1@x", "hotline-out"),
    ("", "hotline-out"),
    ("1" * 33, "hotline-out"),
    ("13912345678", "hotline-out@agents"),
    ("13912345678", "hotline out"),
    ("13912345678", "-leading-dash"),
    ("13912345678", "ctx\n"),
    ("13912345678", ""),
])
def test_local_channel_refuses_injection(exten, context):
    with pytest.raises(phone.BadDialString):
        phone.local_channel(exten, context)


@pytest.mark.parametrize("dial", [
    "PJSIP/1001", "Local/1001@agents", "Local/1001@agents/n", "SIP/trunk/13912345678", "PJSIP/1001@office-pbx",
    "IAX2/hq:5038/1001", "DAHDI/g1/13912345678",
])
def test_agent_dial_strings_that_pass(dial):
    assert phone.check_dial_string(dial) == dial


@pytest.mark.parametrize("dial, why", [
    ("PJSIP/1001,,t", "','"), ("PJSIP/1001&PJSIP/1002", "'&'"), ("PJSIP/1001|30", "'|'"),
    ("Local/1001@agents@@hotline-out", "empty part"), ("PJSIP/${SHELL(rm -rf /)}", "'$'"),
    ("PJSIP/1001)", "')'"), ("PJSIP/(1001", "'('"), ("PJSIP/10 01", "' '"), ("PJSIP/1001\r\nAction: Hangup", "'\\r'"),
    ("PJSIP/1001\t", "'\\t'"), ("PJSIP/", "empty part"), ("PJSIP//1001", "empty part"), ("/1001", "TECH/RESOURCE"),
    ("1001", "TECH/RESOURCE"), ("PJ SIP/1001", "TECH/RESOURCE"), ("Local/1001", "Local/EXTEN@CONTEXT"),
    ("Local/666@agents@hotline-out", "Local/EXTEN@CONTEXT"), ("", "empty"), ("PJSIP/" + "1" * 200, "at most 128"),
])
def test_agent_dial_strings_that_are_refused(dial, why):
    with pytest.raises(phone.BadDialString) as err:
        phone.check_dial_string(dial)
    assert why in str(err.value) and "\n" not in str(err.value)
