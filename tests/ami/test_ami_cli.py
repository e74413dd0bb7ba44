"""``python -m ivr.ami``: one line and a non-zero status for every user mistake."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

import pytest
from structlog.testing import capture_logs

from ivr.ami.__main__ import build_parser, run

from ami_fake import SECRET, FakeAmi, answer


def args_for(port: int, *extra: str):
    return build_parser().parse_args(["--port", str(port), "--secret-env", "IVR_TEST_AMI_SECRET", *extra])


async def test_check_prints_status_and_channels(monkeypatch, capsys):
    def handler(conn, msg):
        if msg.action == "CoreShowChannels":
            aid = msg.action_id
            return answer(msg, EventList="start") + (
                f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: Local/12345@hotline-in-00000000;2\r\n"
                f"Uniqueid: pbx1-1.1\r\nChannelStateDesc: Up\r\n\r\n"
                f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 1\r\n\r\n"
            ).encode()

    monkeypatch.setenv("IVR_TEST_AMI_SECRET", SECRET)
    async with FakeAmi(handler) as server:
        with capture_logs():  # the link's log lines would otherwise share stdout here
            rc = await run(args_for(server.port, "--channels"))
    out = capsys.readouterr().out.splitlines()
    assert rc == 0
    assert out[0] == "channel Local/12345@hotline-in-00000000;2 uniqueid=pbx1-1.1 state=Up"
    assert json.loads(out[-1])["state"] == "connected"
    assert SECRET not in "\n".join(out)


async def test_wrong_secret_one_line_exit_2(monkeypatch, capsys):
    monkeypatch.setenv("IVR_TEST_AMI_SECRET", "not-the-secret")
    async with FakeAmi() as server:
        rc = await run(args_for(server.port))
    err = capsys.readouterr().err
    assert rc == 2
    assert err == f"python -m ivr.ami: login refused by 127.0.0.1:{server.port} as hotline\n"


async def test_dead_pbx_one_line_exit_3(monkeypatch, capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("IVR_TEST_AMI_SECRET", "x")
    rc = await run(args_for(port))
    err = capsys.readouterr().err
    assert rc == 3 and err == f"python -m ivr.ami: cannot reach AMI at 127.0.0.1:{port}: connection refused (nothing listens there)\n"


def test_old_secret_variable_still_works_with_a_warning(monkeypatch, capsys):
    from hotline.secret import ami_secret

    monkeypatch.delenv("HOTLINE_AMI_SECRET", raising=False)
    monkeypatch.delenv("IVR_PBX_SECRET", raising=False)
    monkeypatch.setenv("AMI_SECRET", "old-name")
    assert ami_secret() == "old-name"
    assert "set $HOTLINE_AMI_SECRET instead" in capsys.readouterr().err
    monkeypatch.setenv("HOTLINE_AMI_SECRET", "new-name")
    assert ami_secret() == "new-name" and capsys.readouterr().err == ""


async def test_missing_secret_variable_names_the_flag(monkeypatch, capsys):
    monkeypatch.delenv("IVR_TEST_AMI_SECRET", raising=False)
    rc = await run(args_for(5038))
    assert rc == 2 and "--secret-env" in capsys.readouterr().err


def test_wrong_flag_is_argparse_usage_error():
    proc = subprocess.run([sys.executable, "-m", "ivr.ami", "--no-such-flag"], capture_output=True, text=True)
    assert proc.returncode == 2
    assert "unrecognized arguments: --no-such-flag" in proc.stderr and "Traceback" not in proc.stderr
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["--port", "abc"])
    assert info.value.code == 2
