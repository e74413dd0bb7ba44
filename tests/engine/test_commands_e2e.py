"""`ivr demo` and `ivr serve` end to end, as a user runs them."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

from ivr.cli import main
from ivr.pbx.process import PbxProcess


async def pbx_and_serve(secret: str, pbx_args: list[str], serve_args: list[str]):
    """A PBX in its own process, and `ivr serve` in another one logged in to it; both get the
    secret through the environment, never on a command line."""
    os.environ["IVR_PBX_SECRET"] = secret
    try:
        pbx = PbxProcess(*pbx_args)
        host, port = await pbx.start()
    finally:
        del os.environ["IVR_PBX_SECRET"]
    env = dict(os.environ, HOTLINE_AMI_SECRET=secret)
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ivr.cli", "--log-level", "info", "serve", "--host", host, "--port", str(port),
        *serve_args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return pbx, proc


def test_demo_json_loses_no_call(capsys, tmp_path):
    db = tmp_path / "demo.db"
    rc = main(["demo", "--calls", "20", "--agents", "8", "--speed", "60", "--json", "--db", f"sqlite:///{db}"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0
    assert out["offered"] == 20 and out["lost"] == 0
    ends = out["answered"] + out["abandoned"] + out["failed"] + out["transferred"] + out["completed_in_ivr"]
    assert ends == 20
    assert out["answered"] > 0
    assert out["pbx_calls"] == out["pbx_calls_ended"]   # the PBX saw every call end, callbacks included
    assert out["program"] == "flows+acd" and out["engine_task_failures"] == 0
    assert out["records_db"] == str(db) and out["records_written"] >= out["pbx_calls"] and out["records_in_spool"] == 0


def test_demo_minimal_path(capsys):
    rc = main(["demo", "--minimal", "--calls", "10", "--agents", "4", "--speed", "60", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0 and out["lost"] == 0 and out["offered"] == 10 and out["program"] == "minimal"


def test_demo_rejects_bad_flags(capsys):
    try:
        main(["demo", "--calls", "zero"])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert "--calls" in err and "Traceback" not in err


def test_serve_help_documents_the_real_pbx_settings(capsys):
    try:
        main(["serve", "--help"])
    except SystemExit as exc:
        assert exc.code == 0
    text = capsys.readouterr().out
    for word in ("--host", "--port", "--user", "--secret-env", "--secret-file", "HOTLINE_AMI_SECRET",
                 "manager.conf", "extensions.conf"):
        assert word in text


async def test_serve_takes_calls_from_a_pbx_in_another_process(tmp_path):
    secret = os.urandom(8).hex()
    records = tmp_path / "records.jsonl"
    pbx, proc = await pbx_and_serve(
        secret,
        ["--speed", "10", "--load-calls", "4", "--load-rate", "2", "--load-after-login",
         "--agent", "PJSIP/1001=answer:0.5:2:agent", "--agent", "PJSIP/1002=answer:0.5:2:agent",
         "--agent", "PJSIP/1003=answer:0.5:2:agent", "--records", str(records)],
        ["--minimal", "--duration", "6"])
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    await pbx.stop()
    logs = err.decode()
    assert proc.returncode == 0, logs[-2000:]
    assert secret not in logs and secret not in out.decode()
    calls = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(calls) == 4 and all(c["end"] is not None for c in calls)
    assert sum(1 for c in calls if any(d["status"] == "ANSWER" for d in c["dials"])) == 4
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    call_lines = [e for e in events if e["event"].startswith("call.")]
    assert call_lines and all(e.get("call_id") for e in call_lines)


async def test_serve_refuses_a_broken_flow_edit_while_calls_keep_flowing(tmp_path):
    import shutil
    import signal

    from ivr.runtime import ROOT

    flows = tmp_path / "flows"
    shutil.copytree(ROOT / "flows", flows)
    secret = os.urandom(8).hex()
    records = tmp_path / "records.jsonl"
    pbx, proc = await pbx_and_serve(
        secret,
        ["--speed", "20", "--load-calls", "12", "--load-rate", "0.06", "--load-after-login",
         "--talk-mean", "5", "--records", str(records)],
        ["--flows", str(flows), "--acd-store", "memory", "--login-all", "--watch-flows", "0", "--duration", "16"])
    await asyncio.sleep(4)
    (flows / "city.yaml").write_text("flow: city\nentry: nowhere\nnodes: [unclosed\n", encoding="utf-8")
    proc.send_signal(signal.SIGHUP)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    await pbx.stop()
    logs = err.decode()
    assert proc.returncode == 0, logs[-2000:]
    events = [json.loads(line) for line in logs.splitlines() if line.startswith("{")]
    refused = [e for e in events if e["event"] == "flows.reload_refused"]
    assert any("flows/city.yaml" in e["problem"] and "YAML syntax" in e["problem"] for e in refused)
    calls = [json.loads(line) for line in records.read_text().splitlines()]
    assert len(calls) == 12
    ended = [e for e in events if e["event"] == "call.end"]
    assert len(ended) >= 12
    # A call still running when serve stopped was left in AGI for another node, not cut off;
    # the PBX's own stop ended those afterwards.
    handed = {e["call_id"] for e in ended if e["outcome"] == "handed_over"}
    assert handed == {c["call_id"] for c in calls if c["end"] is None or c["hangup_by"] == "pbx"}
    late = [e for e in ended if e["timestamp"] > refused[0]["timestamp"]]
    assert late, "calls kept flowing after the refused edit"
    assert {e["outcome"] for e in ended} <= {"answered", "abandoned", "transferred", "completed", "failed",
                                             "handed_over"}
    assert sum(1 for e in ended if e["outcome"] == "answered") >= 6


async def _serve_with_talking_calls(tmp_path, drain_s: str):
    secret = os.urandom(8).hex()
    pbx, proc = await pbx_and_serve(
        secret,
        ["--speed", "5", "--load-calls", "3", "--load-rate", "20", "--load-after-login",
         "--agent", "PJSIP/1001=answer:0.2:600:agent", "--agent", "PJSIP/1002=answer:0.2:600:agent",
         "--agent", "PJSIP/1003=answer:0.2:600:agent"],
        ["--minimal", "--drain-s", drain_s])
    lines: list[dict] = []

    async def read_until(predicate, timeout=30.0):
        async with asyncio.timeout(timeout):
            while not predicate():
                raw = await proc.stderr.readline()
                if not raw:
                    return
                text = raw.decode(errors="replace")
                if text.startswith("{"):
                    lines.append(json.loads(text))

    await read_until(lambda: sum(1 for e in lines if e["event"] == "call.dial") >= 3)
    return pbx, proc, lines, read_until


async def test_serve_stops_on_sigterm_within_the_drain_time_and_leaves_the_calls_to_asterisk(tmp_path):
    import signal

    pbx, proc, lines, read_until = await _serve_with_talking_calls(tmp_path, "2")
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc.send_signal(signal.SIGTERM)
    await read_until(lambda: False, timeout=30)   # to the end of its output
    await asyncio.wait_for(proc.wait(), 10)
    took = loop.time() - started
    await pbx.stop()
    events = [e["event"] for e in lines]
    assert proc.returncode == 0
    assert took < 2 + 5, took
    assert "serve.stopping" in events and "engine.handing_over" in events and "serve.stopped" in events
    ends = [e for e in lines if e["event"] == "call.end"]
    assert len(ends) == 3 and {e["outcome"] for e in ends} == {"handed_over"}


async def test_a_second_signal_stops_at_once(tmp_path):
    import signal

    pbx, proc, lines, read_until = await _serve_with_talking_calls(tmp_path, "60")
    loop = asyncio.get_running_loop()
    started = loop.time()
    proc.send_signal(signal.SIGTERM)
    await read_until(lambda: any(e["event"] == "serve.stopping" for e in lines))
    proc.send_signal(signal.SIGINT)
    await read_until(lambda: False, timeout=30)
    await asyncio.wait_for(proc.wait(), 10)
    took = loop.time() - started
    await pbx.stop()
    assert proc.returncode == 0 and took < 10, took
    assert any(e["event"] == "serve.stop_now" for e in lines)
