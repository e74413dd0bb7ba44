"""config/acd.yaml: the shipped file loads, and mistakes name file:line:col of the value."""

from __future__ import annotations

import pathlib

import pytest

from acd import config as config_mod

ROOT = pathlib.Path(__file__).resolve().parents[2]


def test_shipped_config_has_every_center_and_skill():
    cfg = config_mod.load(ROOT / "config" / "acd.yaml")
    kept = {"hotline-12333", "hotline-12315", "hotline-12366"}   # the kept hotlines' own seats
    assert set(cfg.queues) == set(config_mod.CENTERS) | kept
    assert cfg.skills == ["zh", "ko", "enterprise", "expert_enterprise", "expert_tax", "expert_social"]
    experts = [a for a in cfg.agents if any(s.startswith("expert_") for s in a.skills) and a.hours]
    assert {s for a in experts for s in a.skills if s.startswith("expert_")} == {"expert_enterprise", "expert_tax",
                                                                                 "expert_social"}
    assert cfg.service_level_s == 15
    korean = [a for a in cfg.agents if "ko" in a.skills]
    assert any(a.center == "yanbian" for a in korean)
    assert all(a.dial.startswith("Local/") and a.dial.endswith("@agents") for a in cfg.agents)
    for q in cfg.queues.values():                  # every center can reach a person
        assert any(q.id in a.queues for a in cfg.agents), q.id
    city = cfg.queues["jilin"]
    assert any("province" in step.overflow for step in city.escalation)
    assert any("changchun" in step.overflow for step in cfg.queues["province"].escalation)


@pytest.mark.parametrize("text, place, message", [
    ("queues: [{id: a}\n", "2:1", "YAML syntax"),
    ("queues:\n  - id: a\n    escalation: [{after_s: 5, overflow: [nowhere]}]\n", "3:41", "overflow target 'nowhere'"),
    ("queues:\n  - id: a\nagents:\n  - {id: x, center: a, dial: PJSIP/x, skills: {klingon: 3}}\n", "4:48",
     "unknown skill 'klingon'"),
    ("queues:\n  - id: a\nagents:\n  - {id: x, center: a, dial: x}\n", "4:30", "dial must be an Asterisk dial string"),
    ("queues:\n  - id: a\nagents:\n  - {id: x, center: b, dial: PJSIP/x}\n", "4:21", "queue 'b' is not defined"),
    ("queues:\n  - id: a\n    ring_timeout_s: soon\n", "3:21",
     "queues[a].ring_timeout_s must be a number of seconds, 0 or more, not 'soon'"),
    ("queues:\n  - id: a\n    routing: random\n", "3:14", "routing must be one of 'longest_idle' or 'skill_level'"),
    ("redis: {password: hunter2}\nqueues:\n  - id: a\n", "1:9", "HOTLINE_REDIS_PASSWORD"),
    ("queues:\n  - id: a\nagents:\n  - {id: x, center: a, dial: PJSIP/x, skills: {zh: 9}}\n", "4:52",
     "agents[x].skills.zh must be a whole number from 1 to 5, not 9"),
    ("redis:\n  host: x\n  port: 99999\nqueues: [{id: a}]\n", "3:9",
     "redis.port must be a whole number from 1 to 65535, not 99999"),
])
def test_mistakes_name_file_line_and_column(text, place, message):
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.parse(text, "acd.yaml")
    assert str(err.value).startswith(f"acd.yaml:{place}: ")
    assert message in str(err.value)
    assert "hunter2" not in str(err.value)


def test_password_from_env_or_file(tmp_path, monkeypatch):
    monkeypatch.delenv(config_mod.PASSWORD_ENV, raising=False)
    secret = tmp_path / "pw"
    secret.write_text("s3cret\n")
    cfg = config_mod.parse(f"redis: {{password_file: {secret}}}\nqueues: [{{id: a}}]\n")
    assert cfg.redis.password() == "s3cret"
    monkeypatch.setenv(config_mod.PASSWORD_ENV, "fromenv")
    assert cfg.redis.password() == "fromenv"
    monkeypatch.delenv(config_mod.PASSWORD_ENV)
    missing = config_mod.parse("redis: {password_file: /nonexistent/pw}\nqueues: [{id: a}]\n")
    with pytest.raises(config_mod.ConfigError, match="/nonexistent/pw: cannot read"):
        missing.redis.password()


def test_missing_file():
    with pytest.raises(config_mod.ConfigError, match="nope.yaml: cannot read"):
        config_mod.load("nope.yaml")


@pytest.mark.parametrize("dial, why", [
    ("PJSIP/1001,,t", "contains ','"),
    ("PJSIP/1001&PJSIP/1002", "contains '&'"),
    ("Local/666@agents@@hotline-out", "has an empty part"),
    ("PJSIP/10 01", "contains ' '"),
    ("PJSIP/${SHELL(id)}", "contains '$'"),
    ("Local/1001", "is not Local/EXTEN@CONTEXT"),
])
def test_agent_dial_strings_are_checked_at_load(dial, why):
    text = f'queues:\n  - id: a\nagents:\n  - {{id: x7, center: a, dial: "{dial}"}}\n'
    with pytest.raises(config_mod.ConfigError) as err:
        config_mod.parse(text, "acd.yaml")
    message = str(err.value)
    assert message.startswith("acd.yaml:4:") and ": agents[x7].dial: " in message and why in message
    assert "\n" not in message


def test_redis_fault_settings():
    cfg = config_mod.load(ROOT / "config" / "acd.yaml")
    assert (cfg.redis.slow_call_s, cfg.redis.call_timeout_s, cfg.redis.write_wait_s) == (1, 10, 1)
    with pytest.raises(config_mod.ConfigError, match=r"acd.yaml:1:22: redis.slow_call_s must be a number"):
        config_mod.parse("redis: {slow_call_s: soon}\nqueues: [{id: a}]\n", "acd.yaml")
