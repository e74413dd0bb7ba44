"""The one error convention and config discovery shared by ivr, acd and seats."""

from __future__ import annotations

import argparse
import pathlib
import socket
import subprocess
import sys

import pytest

from hotline import cli, errors, paths

ROOT = pathlib.Path(__file__).resolve().parent.parent


def config_folder(where: pathlib.Path) -> pathlib.Path:
    where.mkdir(parents=True)
    (where / "acd.yaml").write_text("queues: []\n", encoding="utf-8")
    return where


def test_config_folder_precedence(tmp_path, monkeypatch):
    flag, env, cwd = config_folder(tmp_path / "flag"), config_folder(tmp_path / "env"), tmp_path / "cwd"
    config_folder(cwd / "config")
    monkeypatch.setenv(paths.ENV, str(env))
    assert paths.find(flag, cwd=cwd) == (flag.resolve(), "--config-dir")
    assert paths.find(None, cwd=cwd) == (env.resolve(), f"${paths.ENV}")
    monkeypatch.delenv(paths.ENV)
    assert paths.find(None, cwd=cwd) == ((cwd / "config").resolve(), "./config")
    assert paths.find(None, cwd=tmp_path) == (paths.DEFAULTS, "defaults")


def test_a_wrong_config_folder_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(errors.UserError, match="--config-dir .*missing: no such folder"):
        paths.find(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    monkeypatch.setenv(paths.ENV, str(tmp_path / "empty"))
    with pytest.raises(errors.UserError, match=r"\$HOTLINE_CONFIG_DIR .*empty: not a config folder"):
        paths.find()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="x")
    cli.add_common(p)
    p.add_argument("what")
    return p


def boom(args):
    if args.what == "user":
        raise errors.UserError("bad value", where="f.yaml:3:7")
    if args.what == "down":
        raise errors.Unreachable("Redis", "10.0.0.9:6379", ConnectionRefusedError(111, "Connection refused"))
    if args.what == "bug":
        return {}["missing"]
    return 0


@pytest.mark.parametrize("what, code, line", [
    ("user", 2, "x: f.yaml:3:7: bad value\n"),
    ("down", 3, "x: Redis at 10.0.0.9:6379 did not answer: connection refused (nothing listens there)\n"),
])
def test_user_mistakes_and_dead_services_are_one_line(capsys, what, code, line):
    assert cli.run("x", parser(), [what], boom) == code
    assert capsys.readouterr().err == line


def test_a_bug_is_one_line_and_a_traceback_only_with_debug(capsys):
    assert cli.run("x", parser(), ["bug"], boom) == errors.EXIT_BUG
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "internal error: KeyError" in err and "--debug" in err
    assert "test_hotline_cli.py:" in err
    with pytest.raises(KeyError):
        cli.run("x", parser(), ["--debug", "bug"], boom)


def test_verbose_says_which_config_was_used(capsys, tmp_path):
    folder = config_folder(tmp_path / "c")
    assert cli.run("x", parser(), ["--verbose", "--config-dir", str(folder), "ok"], boom) == 0
    assert capsys.readouterr().err == f"x: config from {folder.resolve()} (--config-dir)\n"


def test_unknown_host_is_said_in_words():
    try:
        socket.getaddrinfo("no-such-host.invalid", 80)
    except socket.gaierror as exc:
        assert errors.describe(exc) == "unknown host name"
    else:
        pytest.fail("no-such-host.invalid resolved")


@pytest.mark.parametrize("module", ["ivr.cli", "acd.cli", "seats.cli"])
def test_run_as_a_module_a_mistake_is_one_line(module, tmp_path):
    """``python -m X.cli`` once defined a second error class and printed a traceback."""
    proc = subprocess.run([sys.executable, "-m", module, "--config-dir", str(tmp_path / "nowhere"), "--help"],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0
    command = {"ivr.cli": ["check"], "acd.cli": ["check"], "seats.cli": ["size"]}[module]
    proc = subprocess.run([sys.executable, "-m", module, "--config-dir", str(tmp_path / "nowhere"), *command],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count("\n") == 1 and "nowhere: no such folder" in proc.stderr and "Traceback" not in proc.stderr
