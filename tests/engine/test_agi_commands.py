"""AGI command lines: what reaches Asterisk for values a caller may control."""

import pytest

from ivr.agi import commands as cmd


def test_plain_values_stay_unquoted_as_in_the_recordings():
    assert cmd.set_variable("HOTLINE_LEVEL", "province") == "SET VARIABLE HOTLINE_LEVEL province"
    assert cmd.exec_app("Dial", "Local/1001@agents", "20") == "EXEC Dial Local/1001@agents,20"
    assert cmd.stream_file("hello-world") == 'STREAM FILE hello-world ""'


def test_values_with_spaces_and_quotes_are_quoted_and_escaped():
    line = cmd.set_variable("CALLER_NAME", 'Zhang "San" \\ x')
    assert line == 'SET VARIABLE CALLER_NAME "Zhang \\"San\\" \\\\ x"'


def test_variable_names_cannot_smuggle_arguments():
    with pytest.raises(ValueError):
        cmd.set_variable("A B", "x")
    with pytest.raises(ValueError):
        cmd.get_full_variable("X} ${SHELL(rm")


def test_full_variable_wraps_names_and_keeps_expressions():
    assert cmd.get_full_variable("DIALSTATUS") == "GET FULL VARIABLE ${DIALSTATUS}"
    assert cmd.get_full_variable("${CALLERID(num)}") == "GET FULL VARIABLE ${CALLERID(num)}"


def test_timeouts_go_in_milliseconds():
    assert cmd.get_data("vm-press", 5, 2) == "GET DATA vm-press 5000 2"
    assert cmd.wait_for_digit(1.5) == "WAIT FOR DIGIT 1500"
