"""Fixtures for the built-in PBX's tests: a running PBX and a logged-in raw client."""

from __future__ import annotations

import pytest

from ivr.pbx import Pbx, PbxConfig

from pbx_client import SECRET, Client


@pytest.fixture
async def pbx():
    p = Pbx(PbxConfig.load(secret=SECRET, speed=20, seed=7))
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def xfer_pbx():
    """The PBX of the xfer captures (recorded_xfer_pbx.yaml: their dialplan, ``media: applications``)."""
    from test_captures import SPEED
    from test_xfer_captures import SECRET as XFER_SECRET, XFER

    p = Pbx(PbxConfig.load(XFER, secret=XFER_SECRET, speed=SPEED, seed=3))
    await p.start()
    yield p
    await p.stop()


@pytest.fixture
async def client(pbx):
    c = await Client.connect(*pbx.address)
    r = await c.login()
    assert r.response == "Success"
    yield c
    await c.close()
