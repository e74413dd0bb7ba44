"""The link's behaviour when the PBX misbehaves: deadlines, drops, silence, bad input."""

from __future__ import annotations

import asyncio
import random
import socket

import pytest
from structlog.testing import capture_logs

from ivr.ami.errors import (
    AmiActionError,
    AmiConnectError,
    AmiConnectionLost,
    AmiLoginError,
    AmiTimeout,
    ProtocolError,
)
from ivr.ami.link import DEFAULT_FILTERS, backoff_delay

from ami_fake import SECRET, FakeAmi, answer, make_link


@pytest.fixture(autouse=True)
def _log_everything():
    """Other suites set a warning level for the session; these tests read info events."""
    from hotline import log

    log.setup("debug", json=True)
    yield
    log.setup("warning", json=False)


async def wait_until(predicate, what: str, deadline: float = 10.0) -> None:
    """Poll an asynchronous outcome; the deadline only keeps a broken test from hanging."""
    async with asyncio.timeout(deadline):
        while not predicate():
            await asyncio.sleep(0.005)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ connect


async def test_connect_logs_in_with_events_off_then_mask_then_filters():
    async with FakeAmi() as server:
        link = make_link(server.port, events="call,agi,dtmf")
        await link.connect()
        try:
            sent = server.conns[0].actions
            assert [m.action for m in sent] == ["Login", "Events"] + ["Filter"] * len(DEFAULT_FILTERS)
            assert sent[0]["Events"] == "off" and sent[0]["Username"] == "hotline"
            assert sent[1]["EventMask"] == "call,agi,dtmf"
            assert [m["Filter"] for m in sent[2:]] == list(DEFAULT_FILTERS)
            assert all(m["Operation"] == "Add" for m in sent[2:])
            assert link.connected and link.status["state"] == "connected"
            assert link.status["version"] == "13.0.0"
        finally:
            await link.close()
        assert not link.connected and link.status["state"] == "closed"


async def test_engine_filters_are_a_parameter():
    async with FakeAmi() as server:
        link = make_link(server.port, events="agi", filters=["Event: AsyncAGI*"])
        await link.connect()
        await link.close()
        assert [m.get("Filter") for m in server.actions("Filter")] == ["Event: AsyncAGI*"]
        assert [m["EventMask"] for m in server.actions("Events")] == ["agi"]


async def test_wrong_secret_is_one_line_login_error_and_secret_never_logged():
    async with FakeAmi() as server:
        link = make_link(server.port, secret="wrong-secret-xyz")
        with capture_logs() as logs:
            with pytest.raises(AmiLoginError) as info:
                await link.connect()
            await link.close()
        assert str(info.value) == f"login refused by 127.0.0.1:{server.port} as hotline"
        assert "wrong-secret-xyz" not in repr(logs) and "wrong-secret-xyz" not in repr(link)
        assert all(entry.get("action") != "Login" for entry in logs)


async def test_unreachable_pbx_is_one_line_connect_error():
    port = free_port()
    link = make_link(port)
    with pytest.raises(AmiConnectError) as info:
        await link.connect()
    text = str(info.value)
    assert f"127.0.0.1:{port}" in text and "\n" not in text
    assert link.status["last_error"] == text


async def test_secret_not_in_logs_of_a_good_login():
    async with FakeAmi() as server:
        with capture_logs() as logs:
            link = make_link(server.port)
            await link.connect()
            await link.action("Ping")
            await link.close()
        assert SECRET not in repr(logs)
        assert any(e["event"] == "ami logged in" for e in logs)


# ------------------------------------------------------------------ actions


async def test_action_deadline_names_the_action_and_link_stays_up():
    def handler(conn, msg):
        return b"" if msg.action == "Silent" else None  # never answered

    async with FakeAmi(handler) as server:
        link = make_link(server.port)
        await link.connect()
        try:
            with pytest.raises(AmiTimeout) as info:
                await link.action("Silent", {"Channel": "x"}, timeout=0.05)
            assert "Silent" in str(info.value) and info.value.action == "Silent"
            assert link.status["pending_actions"] == 0
            pong = await link.action("Ping")
            assert pong["Ping"] == "Pong"
        finally:
            await link.close()


async def test_response_error_raises_action_error_with_asterisk_text():
    def handler(conn, msg):
        if msg.action == "Hangup":
            return answer(msg, Response="Error", Message="No such channel")

    async with FakeAmi(handler) as server:
        link = make_link(server.port)
        await link.connect()
        try:
            with pytest.raises(AmiActionError) as info:
                await link.action("Hangup", [("Channel", "Local/none-000;2")])
            assert str(info.value) == "No such channel"
            assert info.value.response["Response"] == "Error"
        finally:
            await link.close()


async def test_crlf_in_a_value_never_reaches_the_socket():
    async with FakeAmi() as server:
        link = make_link(server.port)
        await link.connect()
        try:
            with pytest.raises(ProtocolError):
                await link.action("Setvar", {"Channel": "c", "Variable": "CALLERNAME", "Value": "x\r\nAction: Originate"})
            with pytest.raises(ProtocolError):
                await link.action("Setvar", [("Value", "x\nAction: Originate")])
            assert link.status["pending_actions"] == 0
            await link.action("Ping")  # flushes: everything sent before it has arrived
        finally:
            await link.close()
        assert b"Originate" not in server.raw_in
        assert server.actions("Originate") == [] and server.actions("Setvar") == []


async def test_drop_fails_pending_at_once_and_originate_is_never_resent():
    state = {"drop": True}

    def handler(conn, msg):
        if msg.action == "Originate":
            if state["drop"]:
                state["drop"] = False
                conn.abort()
            return b""
        if msg.action == "Silent":
            return b""
        return None

    connected = []
    async with FakeAmi(handler) as server:
        link = make_link(server.port, action_timeout=30)
        link.on_connected = lambda: connected.append(link.status["reconnects"])
        await link.connect()
        try:
            silent = asyncio.create_task(link.action("Silent"))
            await wait_until(lambda: server.actions("Silent"), "Silent arrives")
            with pytest.raises(AmiConnectionLost) as info:
                await link.action("Originate", {"Channel": "Local/1001@agents", "Application": "Wait", "Data": "1"})
            assert "Originate" in str(info.value)
            with pytest.raises(AmiConnectionLost):
                await silent
            # A caller asking while the link is down is told at once, not queued.
            if not link.connected:
                with pytest.raises(AmiConnectionLost):
                    await link.action("Ping")
            await wait_until(lambda: link.connected and len(connected) == 2, "reconnect")
            await link.action("Ping")
            assert len(server.conns) == 2
            assert len(server.actions("Originate")) == 1
            assert [m.action for m in server.conns[1].actions][:1] == ["Login"]
            assert connected == [0, 1] and link.status["reconnects"] == 1
            assert "lost" in link.status["last_error"]
        finally:
            await link.close()


async def test_ping_timeout_drops_the_connection_and_reconnects():
    def handler(conn, msg):
        if msg.action == "Ping" and conn is server.conns[0]:
            return b""  # the first connection's PBX went deaf
        return None

    calls = []
    async with FakeAmi(handler) as server:
        link = make_link(server.port, ping_interval=0.02, ping_timeout=0.5)
        link.on_connected = lambda: calls.append(len(server.conns))
        with capture_logs() as logs:
            await link.connect()
            try:
                await wait_until(lambda: link.status["reconnects"] >= 1 and link.connected, "reconnect")
                first = server.conns[0]
                await wait_until(lambda: first.reader.at_eof(), "first connection closed by the link")
                # The second connection answers Pings: it stays up across several of them.
                await wait_until(lambda: len(server.conns[1].actions) >= 2 + 4 + 3, "pings on second connection")
                assert link.connected and len(server.conns) == 2
            finally:
                await link.close()
        assert calls == [1, 2]
        events = [e["event"] for e in logs]
        assert "ami peer silent; dropping the connection" in events
        attempts = [e for e in logs if e["event"] == "ami reconnecting"]
        assert attempts and "delay_s" in attempts[0] and attempts[0]["attempt"] == 1


async def test_reconnect_retries_with_growing_backoff_until_pbx_returns():
    """The PBX is gone for a while: attempts are logged with growing delays."""
    async with FakeAmi() as server:
        port = server.port
        link = make_link(port, backoff_initial=0.01, backoff_max=0.08)
        await link.connect()
    # The server is closed now, its connection aborted; nothing listens on the port.
    with capture_logs() as logs:
        await wait_until(lambda: sum(e["event"] == "ami reconnecting" for e in logs) >= 5, "attempts")
    delays = [e["delay_s"] for e in logs if e["event"] == "ami reconnecting"]
    assert delays[0] <= 0.01 and delays[3] > delays[0]
    assert max(delays) <= 0.08
    assert link.status["state"] == "reconnecting" and f"127.0.0.1:{port}" in link.status["last_error"]
    await link.close()
    assert link.status["state"] == "closed"


def test_backoff_grows_doubles_and_caps_with_jitter():
    lows = [backoff_delay(n, 0.5, 30, 0.0) for n in range(10)]
    highs = [backoff_delay(n, 0.5, 30, 0.999999) for n in range(10)]
    assert lows[:4] == [0.25, 0.5, 1.0, 2.0]
    assert highs[0] == pytest.approx(0.5) and highs[3] == pytest.approx(4.0)
    assert max(highs) == pytest.approx(30) and lows[-1] == 15
    rng = random.Random(42)
    for attempt in range(12):
        d = backoff_delay(attempt, 0.5, 30, rng.random())
        ceiling = min(30, 0.5 * 2**attempt)
        assert ceiling / 2 <= d <= ceiling
    spread = {round(backoff_delay(4, 0.5, 30, rng.random()), 6) for _ in range(20)}
    assert len(spread) > 10  # jitter: engines do not reconnect in lock-step
    assert backoff_delay(10_000, 0.5, 30, 0.5) == 22.5  # no overflow on a long outage


# ------------------------------------------------------------------- events


async def test_sink_exception_is_logged_and_next_events_arrive():
    events = (
        b"Event: Hangup\r\nChannel: PJSIP/a-1\r\nUniqueid: pbx1-1.1\r\n\r\n"
        b"Event: DialEnd\r\nChannel: PJSIP/a-2\r\nUniqueid: pbx1-1.2\r\nDialStatus: BUSY\r\n\r\n"
        b"Event: Hangup\r\nChannel: PJSIP/a-3\r\nUniqueid: pbx1-1.3\r\n\r\n"
    )

    def handler(conn, msg):
        if msg.action == "Kick":
            return answer(msg) + events

    seen = []

    def sink(msg):
        seen.append(msg["Uniqueid"])
        if msg["Uniqueid"] == "pbx1-1.1":
            raise RuntimeError("engine bug")

    async with FakeAmi(handler) as server:
        link = make_link(server.port)
        link.on_event = sink
        await link.connect()
        try:
            with capture_logs() as logs:
                await link.action("Kick")
                await link.action("Ping")
            assert seen == ["pbx1-1.1", "pbx1-1.2", "pbx1-1.3"]
            failure = [e for e in logs if e["event"] == "ami event sink failed"]
            assert len(failure) == 1
            assert failure[0]["call_id"] == "pbx1-1.1" and failure[0]["ami_event"] == "Hangup" and failure[0]["channel"] == "PJSIP/a-1"
            assert failure[0]["log_level"] == "error"
            assert link.connected and link.status["sink_errors"] == 1
        finally:
            await link.close()


async def test_list_items_go_to_the_caller_not_the_sink_and_errors_raise():
    def handler(conn, msg):
        if msg.action == "CoreShowChannels":
            aid = msg.action_id
            return (
                answer(msg, EventList="start", Message="Channels will follow")
                + b"Event: Hangup\r\nUniqueid: u-0\r\n\r\n"
                + f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: Local/1@a-1;2\r\nUniqueid: u-1\r\n\r\n".encode()
                + f"Event: CoreShowChannel\r\nActionID: {aid}\r\nChannel: Local/1@a-1;1\r\nUniqueid: u-2\r\n\r\n".encode()
                + f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 2\r\n\r\n".encode()
            )
        if msg.action == "Status":
            return answer(msg, Response="Error", Message="Permission denied")

    seen = []
    async with FakeAmi(handler) as server:
        link = make_link(server.port)
        link.on_event = seen.append
        await link.connect()
        try:
            items = await link.action_list("CoreShowChannels")
            assert [m["Uniqueid"] for m in items] == ["u-1", "u-2"]
            assert [m.event for m in seen] == ["Hangup"]
            with pytest.raises(AmiActionError, match="Permission denied"):
                await link.action_list("Status")
        finally:
            await link.close()


async def test_on_connected_can_resync_with_a_list_action():
    def handler(conn, msg):
        if msg.action == "CoreShowChannels":
            aid = msg.action_id
            return answer(msg, EventList="start") + (
                f"Event: CoreShowChannelsComplete\r\nActionID: {aid}\r\nEventList: Complete\r\nListItems: 0\r\n\r\n".encode()
            )

    got = []
    async with FakeAmi(handler) as server:
        link = make_link(server.port)

        async def resync():
            got.append(await link.action_list("CoreShowChannels"))

        link.on_connected = resync
        await link.connect()
        assert got == [[]]
        server.conns[0].abort()
        await wait_until(lambda: len(got) == 2, "resync after reconnect")
        await link.close()


async def test_close_fails_waiting_actions_and_leaves_no_task():
    def handler(conn, msg):
        return b"" if msg.action == "Silent" else None

    async with FakeAmi(handler) as server:
        link = make_link(server.port, ping_interval=0.01, ping_timeout=1)
        await link.connect()
        waiting = asyncio.create_task(link.action("Silent"))
        await wait_until(lambda: server.actions("Silent"), "Silent arrives")
        await link.close()
        with pytest.raises(AmiConnectionLost):
            await waiting
        assert link._supervisor is None
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task() and "ami-link" in t.get_name()]
        assert others == []
        with pytest.raises(AmiConnectionLost):
            await link.action("Ping")


async def test_busy_pbx_that_answers_ping_late_but_keeps_talking_is_not_dropped():
    """A saturated Asterisk took over 3 s to answer a Ping while its events kept coming."""

    async def stream(conn):
        n = 0
        while True:
            n += 1
            conn.send(f"Event: Newexten\r\nUniqueid: pbx1-1.{n}\r\n\r\n".encode())
            await asyncio.sleep(0.1)   # gaps longer than the Ping interval, shorter than its deadline

    async def handler(conn, msg):
        if msg.action == "Login" and not conn.tasks:
            conn.tasks.append(asyncio.ensure_future(stream(conn)))
        if msg.action == "Ping":
            await asyncio.sleep(0.8)   # four times the Ping deadline below
        return None

    async with FakeAmi(handler) as server:
        link = make_link(server.port, ping_interval=0.05, ping_timeout=0.2)
        link.on_event = lambda msg: None
        await link.connect()
        try:
            await wait_until(lambda: len(server.actions("Ping")) >= 2, "pings answered late")
            assert link.connected and len(server.conns) == 1
            assert link.status["reconnects"] == 0
        finally:
            await link.close()


async def test_silent_pbx_is_dropped_after_interval_plus_timeout():
    def handler(conn, msg):
        if msg.action == "Ping" and conn is server.conns[0]:
            return b""
        return None

    async with FakeAmi(handler) as server:
        link = make_link(server.port, ping_interval=0.05, ping_timeout=0.3)
        await link.connect()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            await wait_until(lambda: link.status["reconnects"] >= 1, "reconnect after silence")
            assert loop.time() - started >= 0.35   # not before interval + timeout of silence
            assert link.lost_at is not None
        finally:
            await link.close()


async def test_slow_answers_are_logged_with_their_delays_and_mark_the_link_overloaded():
    async def handler(conn, msg):
        if msg.action == "Slow":
            await asyncio.sleep(0.25)
            return answer(msg)
        return None

    async with FakeAmi(handler) as server:
        link = make_link(server.port, ping_interval=0.05, ping_timeout=5)
        link.liveness.slow_s, link.liveness.overload_s = 0.1, 0.2
        with capture_logs() as logs:
            await link.connect()
            try:
                assert not link.overloaded
                for _ in range(6):
                    await link.action("Slow")
                assert link.overloaded
                await wait_until(lambda: any(e["event"] == "ami.slow" for e in logs), "slow warning")
            finally:
                await link.close()
        slow = next(e for e in logs if e["event"] == "ami.slow")
        assert slow["p90_ms"] >= 200 and slow["samples"] >= 5 and slow["overloaded"] is True


async def test_wait_connected_returns_once_the_link_is_back():
    async with FakeAmi() as server:
        link = make_link(server.port, backoff_initial=0.05, backoff_max=0.05)
        await link.connect()
        try:
            assert await link.wait_connected(0.01)
            server.conns[0].abort()
            await wait_until(lambda: not link.connected, "drop noticed")
            with pytest.raises(AmiConnectionLost) as info:
                await link.action("Ping")
            assert info.value.sent is False
            assert await link.wait_connected(5)
            assert link.connected
        finally:
            await link.close()
