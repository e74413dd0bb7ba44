"""An AMI secret holding CR or LF would end the Login's Secret: line and start other headers: refused."""

from __future__ import annotations

import pytest

from hotline.errors import UserError
from ivr import settings
from ivr.cli import main


@pytest.fixture
def ami(tmp_path):
    path = tmp_path / "engine.yaml"
    path.write_text("ami:\n  secret_env: T_AMI_SECRET\n", encoding="utf-8")
    return settings.load(path).ami


@pytest.mark.parametrize("secret", ["s3cret\r\nAction: Originate", "s3cret\nAction: Originate", "s3cret\rx"])
def test_a_line_break_in_the_environment_is_refused(ami, monkeypatch, secret):
    monkeypatch.setenv("T_AMI_SECRET", secret)
    with pytest.raises(UserError) as err:
        ami.secret()
    message = str(err.value)
    assert message.startswith("the AMI secret in $T_AMI_SECRET holds a line break (CR or LF): refused")
    assert "\n" not in message and "s3cret" not in message and "Originate" not in message


@pytest.mark.parametrize("content", ["s3cret\nAction: Originate\n", "s3cret\rAction: Originate\n", "s3\r\ncret"])
def test_a_line_break_in_the_secret_file_is_refused(ami, tmp_path, content):
    secret = tmp_path / "ami.secret"
    secret.write_bytes(content.encode("utf-8"))
    ami.secret_file = str(secret)
    with pytest.raises(UserError) as err:
        ami.secret()
    message = str(err.value)
    assert message.startswith(f"the AMI secret in {secret} holds a line break (CR or LF): refused")
    assert "\n" not in message and "s3" not in message.replace(str(secret), "")


@pytest.mark.parametrize("content", ["s3cret\n", "s3cret\r\n", "  s3cret  \n\n"])
def test_the_line_end_of_a_one_line_file_is_no_part_of_the_secret(ami, tmp_path, content):
    secret = tmp_path / "ami.secret"
    secret.write_bytes(content.encode("utf-8"))
    ami.secret_file = str(secret)
    assert ami.secret() == "s3cret"


def test_serve_refuses_it_in_one_line_before_connecting(monkeypatch, capsys):
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "s3cret\r\nAction: Originate")
    rc = main(["serve", "--host", "127.0.0.1", "--port", "1", "--acd-store", "memory"])
    err = capsys.readouterr().err
    assert rc == 2
    assert err.count("\n") == 1 and "CR or LF" in err and "127.0.0.1:1" not in err and "Originate" not in err
