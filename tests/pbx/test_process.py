"""``python -m ivr.pbx`` as a separate process: port on stdout, load, records, CPU."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys

import pytest

from ivr.pbx.process import PbxProcess

from pbx_client import SECRET, Client, agi


async def test_process_generates_calls_and_writes_records(tmp_path):
    out = tmp_path / "records.jsonl"
    pbx = PbxProcess("--secret", SECRET, "--speed", "50", "--load-calls", "3", "--load-rate", "20",
                     "--load-after-login", "--talk-mean", "1", "--records", str(out))
    host, port = await pbx.start()
    assert port > 0
    c = await Client.connect(host, port)
    assert (await c.login(events="agi")).response == "Success"
    done = 0
    seen = set()
    while done < 3:
        start = await c.wait_for(lambda m: m.event == "AsyncAGIStart" and m["Channel"] not in seen, 10)
        seen.add(start["Channel"])
        assert await agi(c, start["Channel"], "ANSWER", 10) == "200 result=0"
        assert await agi(c, start["Channel"], "HANGUP", 10) == "200 result=1"
        done += 1
    assert pbx.cpu_seconds() > 0
    await c.close()
    err = await pbx.stop()
    assert json.loads(err.strip().splitlines()[-1])["calls"] == 3
    records = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(records) == 3 and all(r["hangup_by"] == "engine" and r["end"] for r in records)


def test_bad_flag_and_bad_config_exit_cleanly(tmp_path):
    r = subprocess.run([sys.executable, "-m", "ivr.pbx", "--speed", "fast"], capture_output=True, text=True)
    assert r.returncode == 2 and "usage:" in r.stderr and "Traceback" not in r.stderr
    bad = tmp_path / "pbx.yaml"
    bad.write_text("dialplan: [\n")
    r = subprocess.run([sys.executable, "-m", "ivr.pbx", "--config", str(bad), "--secret", "x", "--port", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and str(bad) in r.stderr and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1


async def _poll(predicate, timeout: float = 10.0, what: str = "condition"):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


def _lines(path) -> list[dict]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


async def test_process_for_a_chaos_benchmark(tmp_path):
    """Records as calls end and at SIGTERM with calls still up, Uniqueids from
    --uniqueid-start, sounds from --prompts, and PbxTest DropAmi with --test-actions."""
    out = tmp_path / "records.jsonl"
    prompts = tmp_path / "lengths.json"
    prompts.write_text(json.dumps({"sounds": {"ivr/zh/welcome": {"seconds": 0.5}}}))
    pbx = PbxProcess("--secret", SECRET, "--speed", "20", "--load-calls", "2", "--load-rate", "50",
                     "--load-after-login", "--records", str(out), "--uniqueid-start", "7000",
                     "--prompts", str(prompts), "--test-actions")
    host, port = await pbx.start()
    try:
        c = await Client.connect(host, port)
        assert (await c.login(events="agi")).response == "Success"
        first = await c.wait_for(lambda m: m.event == "AsyncAGIStart", 10)
        second = await c.wait_for(lambda m: m.event == "AsyncAGIStart" and m["Channel"] != first["Channel"], 10)
        assert int(first["Uniqueid"].rsplit(".", 1)[1]) >= 7000
        assert await agi(c, first["Channel"], "GET DATA ivr/zh/welcome 100 1") == "200 result= (timeout)"
        assert await agi(c, first["Channel"], "GET DATA ivr/zh/not-there 100 1") == "200 result=-1"
        assert await agi(c, first["Channel"], "HANGUP") == "200 result=1"
        ended = await _poll(lambda: _lines(out), what="the first record")     # written while running
        assert [r["call_id"] for r in ended] == [first["Uniqueid"]] and ended[0]["hangup_by"] == "engine"

        r = await c.action("PbxTest", Operation="DropAmi", Seconds="0.5")
        assert r.response == "Success"
        await asyncio.wait_for(c.closed.wait(), 3)
        again = await _poll(lambda: _try_connect(host, port), what="the AMI back")
        assert (await again.login(events="agi")).response == "Success"
        assert await agi(again, second["Channel"], "NOOP") == "200 result=0"   # the call outlived the drop
        await again.close()
    finally:
        err = await pbx.stop()
    records = _lines(out)
    assert [r["call_id"] for r in records] == [first["Uniqueid"], second["Uniqueid"]]
    assert records[1]["end"] and records[1]["hangup_by"] == "pbx"            # still up at SIGTERM
    assert json.loads(err.strip().splitlines()[-1])["calls"] == 2


async def _try_connect(host, port):
    try:
        return await Client.connect(host, port)
    except ConnectionRefusedError:       # the AMI is still down
        return None


def test_bad_prompts_file_is_one_line(tmp_path):
    bad = tmp_path / "lengths.json"
    bad.write_text('{"sounds": {"x": "long"}}')
    r = subprocess.run([sys.executable, "-m", "ivr.pbx", "--prompts", str(bad), "--secret", "x", "--port", "0"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip() == f"ivr.pbx: {bad}: sound 'x': 'long' is not a number of seconds"


async def test_frozen_then_killed_pbx_keeps_the_records_of_finished_calls(tmp_path):
    out = tmp_path / "records.jsonl"
    pbx = PbxProcess("--secret", SECRET, "--speed", "20", "--load-calls", "2", "--load-rate", "50",
                     "--load-after-login", "--records", str(out))
    host, port = await pbx.start()
    try:
        c = await Client.connect(host, port)
        assert (await c.login(events="agi")).response == "Success"
        first = await c.wait_for(lambda m: m.event == "AsyncAGIStart", 10)
        await c.wait_for(lambda m: m.event == "AsyncAGIStart" and m["Channel"] != first["Channel"], 10)
        assert await agi(c, first["Channel"], "HANGUP") == "200 result=1"
        await _poll(lambda: _lines(out), what="the first record")
        pbx.freeze()
        c.send([("Action", "Ping"), ("ActionID", "frozen")])
        with pytest.raises(AssertionError, match="timed out"):
            await c.wait_for(lambda m: m.action_id == "frozen", 0.3)      # a frozen PBX says nothing
        pbx.thaw()
        assert (await c.wait_for(lambda m: m.action_id == "frozen", 5))["Ping"] == "Pong"
        await pbx.kill()
        await asyncio.wait_for(c.closed.wait(), 5)
    finally:
        await pbx.stop()
    assert [r["call_id"] for r in _lines(out)] == [first["Uniqueid"]]     # the cut call is not there
