"""Which engine node owns which live channel: leases in both stores."""

import asyncio


async def test_first_node_wins_and_renews(store):
    assert await store.lease_channels("node-a", ["ch1", "ch2"], 5.0) == ["ch1", "ch2"]
    assert await store.lease_channels("node-b", ["ch1", "ch2", "ch3"], 5.0) == ["ch3"]
    assert await store.lease_channels("node-a", ["ch1", "ch2", "ch3"], 5.0) == ["ch1", "ch2"]


async def test_an_expired_lease_passes_to_another_node(store):
    assert await store.lease_channels("node-a", ["ch1"], 0.2) == ["ch1"]
    assert await store.lease_channels("node-b", ["ch1"], 0.2) == []
    await asyncio.sleep(0.35)
    assert await store.lease_channels("node-b", ["ch1"], 5.0) == ["ch1"]
    assert await store.lease_channels("node-a", ["ch1"], 5.0) == []


async def test_release_only_by_the_owner(store):
    await store.lease_channels("node-a", ["ch1"], 5.0)
    assert await store.release_channel("node-b", "ch1") is False
    assert await store.release_channel("node-a", "ch1") is True
    assert await store.lease_channels("node-b", ["ch1"], 5.0) == ["ch1"]


async def test_no_channels_no_work(store):
    assert await store.lease_channels("node-a", [], 5.0) == []
