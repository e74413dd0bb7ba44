"""A short run of the chaos benchmark (bench/bench_chaos.py) as a test.

Thirty callers through `ivr serve` (its own process, the ACD in a private redis-server)
while the PBX (its own process) drops its AMI, is killed and restarted, Redis runs out of
memory and a YAML alias bomb lands in the watched flows folder.  Every caller must reach an
end, the PBX, the engine and the ACD must agree on who talked to an agent, and no agent may
be left ringing, talking or paused for nothing.  The PBX runs 4x faster than real time.
"""

from __future__ import annotations

import pathlib
import sys

BENCH = pathlib.Path(__file__).resolve().parents[2] / "bench"
sys.path.insert(0, str(BENCH))

import bench_chaos  # noqa: E402


async def test_a_short_chaos_run_ends_every_call_and_the_records_agree(tmp_path):
    opts, _ = bench_chaos.parse(["--calls", "30", "--rate", "3", "--speed", "4", "--seed", "3",
                                 "--faults", "drop=0.5,kill,redis-oom=3,flow-bomb=2", "--settle-s", "30",
                                 "--workdir", str(tmp_path)])
    verdict = await bench_chaos.run(opts)
    f = verdict["figures"]
    shown = [f"{p['kind']} {p['call_id']}: {p['detail']}" for p in verdict["problems"]][:10]
    assert f["offered"] == 30 and f["pbx_inbound_calls"] == 30
    summary = {k: f[k] for k in ("stuck", "disagreeing", "agents_wrong", "quiet", "engine_exit")}
    assert summary == {"stuck": 0, "disagreeing": 0, "agents_wrong": 0, "quiet": True, "engine_exit": 0}, \
        (summary, f["ended_by_reason"], shown, verdict["agents_wrong"][:5])
    answered = f["answered_by_witness"]
    assert answered["pbx_agent_answered"] == answered["engine_answered"] == answered["acd_statistics_answered"] > 0
    seen = {fe["label"].split("(")[0].split()[-1]: fe for fe in verdict["faults"]}
    assert set(seen) == {"drop", "kill", "redis-oom", "flow-bomb"}
    assert not any(fe["detail"].startswith("could not inject") for fe in verdict["faults"])
    assert any("flows.reload_refused" in line for line in seen["flow-bomb"]["seen"])
