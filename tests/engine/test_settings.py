"""Engine settings: one-line errors that name the file, line and column; secrets from env or file."""

import pytest

from ivr import settings
from ivr.cli import UserError, main


def write(tmp_path, text):
    p = tmp_path / "engine.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_shipped_settings_load():
    s = settings.load()
    assert s.ami.port == 5038 and "hotline-in" in s.engine.contexts


def test_broken_yaml_names_file_and_line(tmp_path):
    p = write(tmp_path, "ami:\n  host: [127.0.0.1\n")
    with pytest.raises(UserError) as e:
        settings.load(p)
    msg = str(e.value)
    assert msg.startswith(f"{p}:3:1: YAML syntax: ")


def test_unknown_key_is_named(tmp_path):
    p = write(tmp_path, "ami:\n  hots: x\n")
    with pytest.raises(UserError, match=r"engine.yaml:2:3: unknown key 'ami.hots' \(known: host, port, "):
        settings.load(p)


def test_wrong_type_is_named(tmp_path):
    p = write(tmp_path, "ami:\n  port: fifty\n")
    with pytest.raises(UserError, match=r"engine.yaml:2:9: ami.port must be a whole number from 1 to 65535, not 'fifty'$"):
        settings.load(p)


def test_secret_from_file_then_env(tmp_path, monkeypatch):
    s = settings.load(write(tmp_path, "ami:\n  secret_env: T_SECRET\n"))
    monkeypatch.delenv("T_SECRET", raising=False)
    with pytest.raises(UserError, match="set T_SECRET"):
        s.ami.secret()
    monkeypatch.setenv("T_SECRET", "s3")
    assert s.ami.secret() == "s3"
    f = tmp_path / "secret"
    f.write_text("from-file\n")
    s.ami.secret_file = str(f)
    assert s.ami.secret() == "from-file"


def test_serve_with_dead_pbx_is_one_line_not_a_traceback(capsys, monkeypatch):
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "whatever-secret")
    rc = main(["--log-level", "warning", "serve", "--host", "127.0.0.1", "--port", "1", "--acd-store", "memory"])
    err = capsys.readouterr().err
    assert rc == 3
    assert err == "ivr serve: cannot reach AMI at 127.0.0.1:1: connection refused (nothing listens there)\n"
    assert "whatever-secret" not in err


def test_serve_with_dead_redis_names_the_address(capsys, monkeypatch, tmp_path):
    from ivr.runtime import ROOT

    dead = tmp_path / "acd.yaml"
    dead.write_text((ROOT / "config" / "acd.yaml").read_text(encoding="utf-8").replace("port: 6379", "port: 1"),
                    encoding="utf-8")
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s")
    rc = main(["serve", "--acd-config", str(dead), "--port", "1"])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 3 and err[-1].startswith("ivr serve: cannot reach Redis at 127.0.0.1:1")
    assert err[-1].count("127.0.0.1:1") == 1
