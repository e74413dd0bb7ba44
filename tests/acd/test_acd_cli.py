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
