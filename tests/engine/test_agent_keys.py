"""The agent's feature codes as a plain state machine, and their settings' mistakes."""

from __future__ import annotations

import pytest

from hotline.errors import UserError
from ivr import settings as settings_mod
from ivr.engine.agent_keys import AgentCode, AgentKeys


def feed(keys: AgentKeys, digits: str) -> list[AgentCode]:
    return [code for code in map(keys.feed, digits) if code is not None]


def test_a_code_is_the_start_keys_a_target_and_the_end_key():
    keys = AgentKeys()
    assert feed(keys, "#112366#") == [AgentCode("blind", "12366")]
    assert feed(keys, "5#11#") == [AgentCode("blind", "1")]           # a key before the start is ignored
    assert feed(keys, "#1#") == []                                    # no target: nothing
    assert feed(keys, "#11*#1110#") == [AgentCode("blind", "110")]    # '*' drops the code; start again
    assert feed(keys, "#1" + "9" * 25 + "#") == [AgentCode("blind", "9" * 20)]   # at most 20 digits kept


def test_other_keys_by_configuration():
    keys = AgentKeys({"*7": "blind"}, end="*")
    assert feed(keys, "#112366#") == []
    assert feed(keys, "*7110*") == [AgentCode("blind", "110")]


@pytest.mark.parametrize("text, words", [
    ("{blind: '#1', end: '5'}", "engine.agent_keys.end '5': one key, * or #"),
    ("{blind: 'x1'}", "engine.agent_keys.blind 'x1': 1 to 4 of the keys 0-9 * #"),
    ("{consult: '*2'}", "engine.agent_keys.consult: unknown; use blind, end"),
    ("{end: '#'}", "engine.agent_keys: set blind"),
])
def test_bad_agent_keys_name_the_line(tmp_path, text, words):
    path = tmp_path / "engine.yaml"
    path.write_text(f"engine:\n  agent_keys: {text}\n")
    with pytest.raises(UserError) as exc:
        settings_mod.load(path)
    assert words in str(exc.value) and "engine.yaml:2" in str(exc.value)


def test_the_codes_can_be_turned_off(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text("engine:\n  agent_keys: {}\n")
    assert settings_mod.load(path).engine.transfer_keys() == ({}, "#")
