"""The `acd` command against the real Redis (unique prefix), and its one-line errors."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from acd import cli

from acd_fixtures import unique_prefix, wipe


@pytest.fixture
def prefix():
    p = unique_prefix("cli")
    yield p
    asyncio.run(wipe(p))


def run(capsys, *argv):
    code = cli.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_unreachable_redis_is_one_line(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code, out, err = run(capsys, "--redis", f"127.0.0.1:{port}", "status")
    assert code == 3
    assert err == f"acd status: cannot reach Redis at 127.0.0.1:{port}: connection refused (nothing listens there)\n"


def test_unknown_redis_host_says_so(capsys):
    code, _, err = run(capsys, "--redis", "no-such-host.invalid:6379", "status")
    assert (code, err) == (3, "acd status: cannot reach Redis at no-such-host.invalid:6379: unknown host name\n")


def test_wrong_flag_is_usage_error(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["status", "--jsn"])
    assert exc.value.code == 2
    assert capsys.readouterr().err == "acd: unrecognized arguments: --jsn (see 'acd --help')\n"


def test_bad_redis_address_and_bad_since(capsys):
    assert run(capsys, "--redis", "localhost", "status")[:3:2] == (
        2, "acd status: --redis 'localhost': expected HOST:PORT with a port from 1 to 65535\n")
    assert run(capsys, "--redis", "localhost:99999", "status")[0] == 2
    code, _, err = run(capsys, "export", "--since", "yesterday")
    assert code == 2 and err.startswith("acd export: --since 'yesterday': expected an ISO date/time")


def test_broken_config_names_file_and_line(capsys, tmp_path):
    bad = tmp_path / "acd.yaml"
    bad.write_text("queues:\n  - id: a\n    wrapup_s: [\n")
    code, _, err = run(capsys, "--config", str(bad), "status")
    assert code == 2
    assert err.startswith(f"acd status: {bad}:") and "YAML" in err and err.count("\n") == 1


def test_agent_commands_and_status(capsys, prefix):
    assert run(capsys, "--prefix", prefix, "agent", "login", "1301") == (0, "agent 1301: available\n", "")
    assert run(capsys, "--prefix", prefix, "agent", "pause", "1301", "--reason", "lunch") == (0, "agent 1301: paused (lunch)\n", "")
    code, out, err = run(capsys, "--prefix", prefix, "agent", "login", "9999")
    assert (code, err) == (2, "acd agent login: unknown agent '9999'\n")
    code, out, _ = run(capsys, "--prefix", prefix, "status", "--json")
    figures = json.loads(out)
    yanbian = next(q for q in figures["queues"] if q["queue"] == "yanbian")
    assert yanbian["agents"]["paused"] == 1
    agent = next(a for a in figures["agents"] if a["agent"] == "1301")
    assert (agent["state"], agent["reason"]) == ("paused", "lunch")
    code, out, _ = run(capsys, "--prefix", prefix, "status")
    assert code == 0 and "yanbian" in out and "接通率" in out and "1301" in out
    code, out, _ = run(capsys, "--prefix", prefix, "agent", "list")
    assert code == 0 and "paused" in out and "Local/1301@agents" in out


def test_check(capsys):
    code, out, _ = run(capsys, "check")
    assert code == 0 and "15 queues" in out  # 12 centers and the kept hotlines 12333, 12315, 12366


def test_password_protected_redis(capsys, monkeypatch):
    from acd_fixtures import free_port, start_redis, stop_redis

    port = free_port()
    proc = asyncio.run(start_redis(port, "--requirepass", "s3cret-pw"))
    try:
        monkeypatch.delenv("HOTLINE_REDIS_PASSWORD", raising=False)
        code, out, err = run(capsys, "--redis", f"127.0.0.1:{port}", "status")
        assert code == 2
        assert err.startswith(f"acd status: Redis at 127.0.0.1:{port} refused us: NOAUTH")
        assert "HOTLINE_REDIS_PASSWORD" in err and err.count("\n") == 1
        monkeypatch.setenv("HOTLINE_REDIS_PASSWORD", "wrong-pw")
        code, out, err = run(capsys, "--redis", f"127.0.0.1:{port}", "status")
        assert code == 2 and "refused us" in err and "wrong-pw" not in err
        monkeypatch.setenv("HOTLINE_REDIS_PASSWORD", "s3cret-pw")
        code, out, err = run(capsys, "--redis", f"127.0.0.1:{port}", "--log-level", "debug", "agent", "login", "1001")
        assert (code, out) == (0, "agent 1001: available\n")
        assert "s3cret-pw" not in out + err
    finally:
        stop_redis(proc)


def test_redis_out_of_memory_is_one_line_with_its_reason(capsys):
    from acd_fixtures import free_port, start_redis, stop_redis
    from test_acd_store_faults import out_of_memory

    port = free_port()
    proc = asyncio.run(start_redis(port))
    try:
        asyncio.run(out_of_memory(port, True))
        code, _, err = run(capsys, "--redis", f"127.0.0.1:{port}", "--prefix", unique_prefix("cli-oom"),
                           "agent", "login", "1001")
        assert code == 3 and err.count("\n") == 1
        assert err.startswith(f"acd agent login: Redis at 127.0.0.1:{port}: SYNC_AGENTS: OOM command not allowed")
    finally:
        stop_redis(proc)


def test_call_transfer_writes_the_request_for_the_calls_owner(capsys, prefix):
    """`acd call transfer` on a call connected through an ACD node sharing the prefix: the request is
    stored for the owner; each mistake is one line naming it, and leaves the call as it was."""
    from acd import config as config_mod
    from acd.model import CallRequest
    from acd.redis_store import RedisStore
    from acd.service import Acd
    from acd.transfers import TransferRequest

    cfg_path = cli.paths.config_file("acd.yaml")
    cfg = config_mod.load(cfg_path)

    async def connect():
        store = await RedisStore.connect("127.0.0.1", 6379, prefix=prefix, poolsize=1)
        node = Acd(store, cfg, "n1")
        await node.start(loops=False)
        await node.login("1101")
        await node.enqueue(CallRequest("c-9", "changchun", ["zh"], caller="13900001111"))
        waiting = asyncio.create_task(node.wait_offer("c-9"))
        await asyncio.sleep(0)
        await node.dispatch_once()
        offer = await asyncio.wait_for(waiting, 5)
        assert await node.ring_result("c-9", offer.agent_id, "ANSWER") == "connected"
        await node.stop(flush_s=1)
        await store.close()
        return offer.agent_id

    async def stored():
        store = await RedisStore.connect("127.0.0.1", 6379, prefix=prefix, poolsize=1)
        try:
            return await store.get_call("c-9")
        finally:
            await store.close()

    agent = asyncio.run(connect())
    base = ("--prefix", prefix, "call", "transfer", "c-9")
    for extra, words in [
        (("--to", "nowhere"), "unknown transfer target 'nowhere'"),
        (("--to", "province", "--kind", "three-way"), "--kind three-way: not available yet"),
        (("--to", "province", "--agent", "9999"), f"agent 9999 is not on call c-9 (agent {agent} is)"),
    ]:
        code, _, err = run(capsys, *base, *extra)
        assert (code, err.count("\n")) == (2, 1) and words in err, err
    assert asyncio.run(stored()).transfer == ""
    code, _, err = run(capsys, "--prefix", prefix, "call", "transfer", "c-0", "--to", "province")
    assert code == 2 and "unknown call 'c-0'" in err
    code, out, err = run(capsys, *base, "--to", "12366", "--skills", "zh,enterprise")
    assert code == 0, err
    assert out.startswith(f"call c-9: blind transfer to queue hotline-12366 asked for agent {agent}")
    req = TransferRequest.from_json(asyncio.run(stored()).transfer)
    assert (req.queue, req.number, req.skills, req.agent_id) == ("hotline-12366", "", ["enterprise", "zh"], agent)
    code, _, err = run(capsys, *base, "--to", "110")
    assert code == 2 and "another transfer of call c-9 is running" in err
