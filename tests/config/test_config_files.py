"""The five config files through their own loaders: each mistake is one line at FILE:LINE:COL of the spot."""

from __future__ import annotations

import argparse

import pytest

from acd import config as acd_config
from hotline import cli, paths
from hotline.errors import EXIT_USER, UserError
from ivr import settings
from ivr.pbx.config import PbxConfig
from seats import config as seats_config

LOADERS = {
    "engine.yaml": settings.load,
    "acd.yaml": acd_config.load,
    "seats.yaml": seats_config.load_seats_config,
    "centers.yaml": seats_config.load_centers,
    "pbx.yaml": PbxConfig.load,
}


def mistake(tmp_path, name: str, content: str | bytes) -> str:
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode("utf-8"))
    with pytest.raises(UserError) as err:
        LOADERS[name](path)
    message = str(err.value)
    assert "\n" not in message and "Traceback" not in message
    assert message.startswith(f"{path}:"), message
    return message[len(str(path)):]


@pytest.mark.parametrize("name", LOADERS)
def test_a_byte_that_is_not_utf8_is_named_by_line_and_column(tmp_path, name):
    gbk = "# 吉林\nname: 长春\n".encode("gbk")          # a file saved by an editor set to GBK
    assert mistake(tmp_path, name, b"# ok\n" + gbk) == \
        ":2:3: not UTF-8 text (byte 0xbc: invalid start byte); save the file as UTF-8"
    later = "name: 长春 ".encode("utf-8") + "白山".encode("gbk") + b"\n"
    assert mistake(tmp_path, name, later).startswith(":1:10: not UTF-8 text (byte 0xb0")


@pytest.mark.parametrize("name, text, expected", [
    ("engine.yaml", "ami:\n  port: 5038\n  hots: x\n", ":3:3: unknown key 'ami.hots' (known: host, port, "),
    ("acd.yaml", "queues:\n  - id: a\n    ring_timout_s: 5\n", ":3:5: unknown key 'queues[a].ring_timout_s' (known: "),
    ("seats.yaml", "service:\n  within_s: 15\n  shrinkag: 0.3\n", ":3:3: unknown key 'service.shrinkag' (known: "),
    ("centers.yaml", "centers:\n  - {id: a, population: 1}\nnotes: x\n", ":3:1: unknown key 'notes' (known: centers)"),
    ("pbx.yaml", "timing:\n  answer_s: 0.5\n  answer: 1\n", ":3:3: unknown key 'timing.answer' (known: answer_s, "),
])
def test_an_unknown_key_is_named_where_it_is_written(tmp_path, name, text, expected):
    assert mistake(tmp_path, name, text).startswith(expected)


@pytest.mark.parametrize("name, text, expected", [
    ("engine.yaml", 'ami:\n  host: x\n  port: "x"\n',
     ":3:9: ami.port must be a whole number from 1 to 65535, not 'x'"),
    ("engine.yaml", "ami:\n  action_timeout_s: true\n",
     ":2:21: ami.action_timeout_s must be a number of seconds, 0.1 or more, not true"),
    ("acd.yaml", "redis:\n  host: x\n  port: 99999\nqueues: [{id: a}]\n",
     ":3:9: redis.port must be a whole number from 1 to 65535, not 99999"),
    ("acd.yaml", "queues:\n  - id: a\n    escalation:\n      - {after_s: 5}\n      - {after_s: -1}\n",
     ":5:19: queues[a].escalation[2].after_s must be a number of seconds, 0 or more, not -1"),
    ("acd.yaml", "records:\n  retention_days: {calls: 10, cals: 5}\nqueues: [{id: a}]\n",
     ":2:31: records.retention_days: 'cals' is not one of 'calls', 'call_legs', 'agent_states', 'callbacks', "
     "'surveys', 'audit_log' or 'dispositions'"),
    ("seats.yaml", "service:\n  shrinkage: 2\n", ":2:14: service.shrinkage must be a number from 0 to 0.95, not 2"),
    ("centers.yaml", "centers:\n  - id: a\n    population: -5\n",
     ":3:17: centers[a].population must be a whole number, 0 or more, not -5"),
    ("centers.yaml", "centers:\n  - id: a\n", ":2:5: centers[a].population is missing"),
    ("pbx.yaml", "timing:\n  answer_s: soon\n",
     ":2:13: timing.answer_s must be a number of seconds, 0 or more, not 'soon'"),
    ("pbx.yaml", "dialplan:\n  c:\n    s: [NoOp(x), Frobnicate(y)]\n",
     ":3:18: dialplan.c.s: application 'Frobnicate' is not modelled"),
])
def test_a_wrong_value_is_named_at_the_value(tmp_path, name, text, expected):
    assert mistake(tmp_path, name, text).startswith(expected)


@pytest.mark.parametrize("name", LOADERS)
@pytest.mark.parametrize("text", ["", "# nothing set yet\n"])
def test_an_empty_file_is_refused(tmp_path, name, text):
    assert mistake(tmp_path, name, text) == ":1:1: the file is empty: it holds no settings"


@pytest.mark.parametrize("name", LOADERS)
def test_a_file_that_is_no_mapping(tmp_path, name):
    assert mistake(tmp_path, name, "- one\n- two\n") == \
        ":1:1: the file must be a mapping of 'key: value' lines, not a list"


def test_a_duplicate_key_is_refused_not_silently_the_last(tmp_path):
    assert mistake(tmp_path, "engine.yaml", "ami:\n  port: 5038\n  port: 5039\n").startswith(
        ":3:3: duplicate key 'port' (first at line 2)")


def test_the_shipped_files_load():
    assert settings.load(paths.DEFAULTS / "engine.yaml").ami.port == 5038
    assert acd_config.load(paths.DEFAULTS / "acd.yaml").redis.port == 6379
    assert seats_config.load_seats_config(paths.DEFAULTS / "seats.yaml").rounding == "ceil"
    assert len(seats_config.load_centers(paths.DEFAULTS / "centers.yaml")) == 12
    assert PbxConfig.load(paths.DEFAULTS / "pbx.yaml").dialplan["hotline-in"].exact["12345"]


@pytest.fixture
def chosen_folder():
    paths.reset()
    yield
    paths.reset()


def test_defaults_come_from_the_chosen_config_folder_and_mistakes_exit_2(tmp_path, capsys, chosen_folder):
    (tmp_path / "acd.yaml").write_text("queues:\n  - id: a\n    max_misses: 0\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    cli.add_common(parser)
    rc = cli.run("acd", parser, ["--config-dir", str(tmp_path)], lambda args: acd_config.load())
    err = capsys.readouterr().err
    assert rc == EXIT_USER
    assert err == (f"acd: {tmp_path / 'acd.yaml'}:3:17: queues[a].max_misses must be a whole number, "
                   "1 or more, not 0\n")


def test_the_environment_names_the_folder_too(tmp_path, monkeypatch, chosen_folder):
    (tmp_path / "engine.yaml").write_text("ami:\n  port: 6038\n", encoding="utf-8")
    monkeypatch.setenv(paths.ENV, str(tmp_path))
    assert settings.load().ami.port == 6038


def test_the_flow_checker_names_the_same_spot_among_its_problems(tmp_path):
    from ivr.flows.config import load_config

    (tmp_path / "centers.yaml").write_bytes(b"centers:\n  - id: a\n    name: " + "长春".encode("gbk") + b"\n")
    problems = [str(p) for p in load_config(tmp_path).problems]
    assert problems == [f"{tmp_path / 'centers.yaml'}:3:11: not UTF-8 text (byte 0xb3: invalid start byte); "
                        "save the file as UTF-8"]
