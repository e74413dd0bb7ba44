"""Fixtures: both stores behind one parameter, a fake clock, a small hotline config.

The Redis store runs against the real server on 127.0.0.1:6379 under a key prefix
unique to each test, deleted afterwards.
"""

from __future__ import annotations

import pytest

from acd import config as config_mod
from acd.store import MemoryStore

from acd_fixtures import REDIS_HOST, REDIS_PORT, SMALL, Clock, redis_store, unique_prefix, wipe  # noqa: F401


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def cfg():
    return config_mod.parse(SMALL, "small.yaml")


@pytest.fixture(params=["memory", "redis"])
async def store(request):
    if request.param == "memory":
        s = MemoryStore()
        yield s
        return
    from acd.redis_store import CALLERS_CLOCK

    prefix = unique_prefix()
    s = await redis_store(prefix, server_clock=CALLERS_CLOCK)    # tests play time with explicit nows
    try:
        yield s
    finally:
        await s.close()
        await wipe(prefix)


@pytest.fixture
async def acd(store, cfg, clock):
    """One ACD node on ``store`` with ``cfg`` (a test module may override either) and the fake clock."""
    from acd.service import Acd

    node = Acd(store, cfg, "n1", clock=clock)
    await node.start(loops=False)
    yield node
    await node.stop(flush_s=1)


@pytest.fixture
async def store_factory():
    """Several Redis stores on one prefix (several nodes); closed, then wiped, afterwards
    (closed first, so that a node a failed test left running cannot write after the wipe)."""
    prefixes = set()
    made = []

    async def make(prefix: str, poolsize: int = 2, port: int = REDIS_PORT):
        s = await redis_store(prefix, port=port, poolsize=poolsize)
        prefixes.add(prefix)
        made.append(s)
        return s

    yield make
    for s in made:
        try:
            await s.close()
        except Exception:
            pass
    for p in prefixes:
        await wipe(p)


@pytest.fixture(autouse=True)
def _quiet_logs():
    """Warnings only during ACD tests, and the logging set-up of other suites left as it was."""
    import structlog

    from hotline import log

    saved = structlog.get_config()
    log.setup("warning", json=False)
    yield
    structlog.configure(**saved)
