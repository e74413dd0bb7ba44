"""Which engine node owns which live channel: the leases beside both stores (acd.leases)."""

import asyncio

import pytest

from acd.leases import leases_for

from acd_fixtures import redis_store, unique_prefix


@pytest.fixture
def leases(store):
    return leases_for(store)


async def test_first_node_wins_and_renews(leases):
    assert await leases.lease("node-a", ["ch1", "ch2"], 5.0) == ["ch1", "ch2"]
    assert await leases.lease("node-b", ["ch1", "ch2", "ch3"], 5.0) == ["ch3"]
    assert await leases.lease("node-a", ["ch1", "ch2", "ch3"], 5.0) == ["ch1", "ch2"]


async def test_an_expired_lease_passes_to_another_node(leases):
    assert await leases.lease("node-a", ["ch1"], 0.2) == ["ch1"]
    assert await leases.lease("node-b", ["ch1"], 0.2) == []
    await asyncio.sleep(0.35)                       # the lease's own time running out is the point
    assert await leases.lease("node-b", ["ch1"], 5.0) == ["ch1"]
    assert await leases.lease("node-a", ["ch1"], 5.0) == []


async def test_release_only_by_the_owner(leases):
    await leases.lease("node-a", ["ch1"], 5.0)
    assert await leases.release("node-b", "ch1") is False
    assert await leases.release("node-a", "ch1") is True
    assert await leases.lease("node-b", ["ch1"], 5.0) == ["ch1"]


async def test_no_channels_no_work(leases):
    assert await leases.lease("node-a", [], 5.0) == []


async def test_a_lease_names_its_keys_and_builds_none():
    """Redis Cluster routes a script by its KEYS: a lease's keys are passed to it, none built in Lua."""
    from acd.leases import CHANNEL_LEASE, CHANNEL_RELEASE

    assert all("P .." not in script.body for script in (CHANNEL_LEASE, CHANNEL_RELEASE))
    store = await redis_store(unique_prefix("lease"))
    try:
        await leases_for(store).lease("node-a", ["ch1", "ch2"], 5.0)
        owners = sorted(await store.redis.keys(store.prefix + "*"))
        assert owners == [store.key("owner", "ch1"), store.key("owner", "ch2")]
    finally:
        await store.delete_all()
        await store.close()


def test_a_store_without_leases_is_a_bug():
    with pytest.raises(TypeError):
        leases_for(object())
