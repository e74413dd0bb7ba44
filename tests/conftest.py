"""Shared test fixtures: the recorded captures, and a real Redis on 127.0.0.1:6379.

The Redis store's tests talk to a real server, never a mock.  When nothing answers
on 127.0.0.1:6379 and ``redis-server`` is installed, the session starts one (kept
in memory only) and stops it at the end; ``bash .ci/run`` installs it when missing.
"""

from __future__ import annotations

import os
import pathlib
import shutil
import socket
import subprocess
import time

import pytest

# The holiday calendar's end is measured from today (hotline/calendar.py): the suite pins the day so
# a check of the shipped config does not turn into a warning, then an error, as the real year runs out.
# tests/config/test_calendar.py gives its own days.
os.environ.setdefault("HOTLINE_TODAY", "2026-06-01")

ROOT = pathlib.Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
CAPTURES = SHARED / "ami-captures"
REDIS = ("127.0.0.1", 6379)


def redis_answers(address=REDIS) -> bool:
    try:
        with socket.create_connection(address, timeout=0.5) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(scope="session", autouse=True)
def redis_server():
    """Make sure a Redis answers on 127.0.0.1:6379 for the whole session."""
    if redis_answers():
        yield REDIS
        return
    binary = shutil.which("redis-server")
    if binary is None:  # the Redis tests will fail, each naming the address
        yield REDIS
        return
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", "6379", "--save", "", "--appendonly", "no"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        if redis_answers():
            break
        time.sleep(0.05)
    try:
        yield REDIS
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="session")
def captures_dir() -> pathlib.Path:
    assert CAPTURES.is_dir(), f"recorded AMI traffic missing at {CAPTURES}"
    return CAPTURES


@pytest.fixture(autouse=True)
def commands_log_quietly():
    """A command run in-process (``ivr serve`` logs info) must not leave its log set-up or its
    config folder to the next test, which may capture info lines or read another folder."""
    yield
    import structlog

    from hotline import paths

    structlog.reset_defaults()
    paths.reset()
