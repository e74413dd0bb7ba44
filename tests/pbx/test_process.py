"""``python -m ivr.pbx`` as a separate process: port on stdout, load, records, CPU."""

from __future__ import annotations

import json
import subprocess
import sys

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
