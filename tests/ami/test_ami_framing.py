"""Framing and decoding, where panoramisk goes wrong: split UTF-8, LF-only, garbage, huge lines."""

from __future__ import annotations

import asyncio
import random

from structlog.testing import capture_logs

from ivr.ami.protocol import Message, Parser

from ami_fake import FakeAmi, answer, make_link

NAME_EVENT = "Event: Newchannel\r\nChannel: Local/12345@hotline-in-00000000;2\r\nCallerIDName: 张三\r\nUniqueid: pbx1-1.1\r\n\r\n".encode()


def test_caller_name_split_at_every_byte_arrives_whole():
    cut_points = range(1, len(NAME_EVENT))
    for cut in cut_points:
        parser = Parser(expect_banner=False)
        out = parser.feed(NAME_EVENT[:cut]) + parser.feed(NAME_EVENT[cut:])
        assert [m.get("CallerIDName") for m in out] == ["张三"], cut


def test_parser_one_byte_at_a_time_matches_whole_stream():
    data = b"Asterisk Call Manager/13.0.0\r\n" + NAME_EVENT * 3
    parser = Parser()
    out = [m for i in range(len(data)) for m in parser.feed(data[i : i + 1])]
    assert out[0].version == "13.0.0"
    assert [m.get("CallerIDName") for m in out[1:]] == ["张三"] * 3


async def run_through_link(payload_chunks: list[bytes], pause: float = 0.002):
    """The PBX sends ``payload_chunks`` one write at a time after answering ``Kick``."""

    async def handler(conn, msg):
        if msg.action == "Kick":
            conn.send(answer(msg))
            for chunk in payload_chunks:
                conn.writer.write(chunk)
                await conn.writer.drain()
                await asyncio.sleep(pause)  # lets the link read each piece on its own
            conn.writer.write(b"Event: ReplayDone\r\n\r\n")
            return b""

    seen: list[Message] = []
    done = asyncio.Event()

    def sink(msg):
        (done.set() if msg.event == "ReplayDone" else seen.append(msg))

    async with FakeAmi(handler) as server:
        link = make_link(server.port)
        link.on_event = sink
        await link.connect()
        try:
            with capture_logs() as logs:
                await link.action("Kick")
                await asyncio.wait_for(done.wait(), 10)
            status = link.status
        finally:
            await link.close()
    return seen, status, logs


async def test_link_caller_name_split_inside_a_character():
    cut = NAME_EVENT.index("张".encode()) + 1  # between the first and second byte of 张
    seen, _, _ = await run_through_link([NAME_EVENT[:cut], NAME_EVENT[cut:cut + 2], NAME_EVENT[cut + 2:]])
    assert [m["CallerIDName"] for m in seen] == ["张三"]


async def test_link_one_byte_chunks():
    seen, _, _ = await run_through_link([NAME_EVENT[i : i + 1] for i in range(len(NAME_EVENT))], pause=0)
    assert [m["CallerIDName"] for m in seen] == ["张三"]


async def test_link_lf_only_and_extra_blank_lines():
    data = (
        b"\r\n\r\n"
        b"Event: Hangup\nUniqueid: u-1\nCause: 16\n\n\n\n"
        b"Event: DialEnd\r\nUniqueid: u-2\r\nDialStatus: BUSY\r\n\r\n\r\n\r\n"
        b"Event: DTMFEnd\nUniqueid: u-3\nDigit: 5\n\r\n"
    )
    seen, status, _ = await run_through_link([data])
    assert [(m.event, m["Uniqueid"]) for m in seen] == [("Hangup", "u-1"), ("DialEnd", "u-2"), ("DTMFEnd", "u-3")]
    assert seen[0]["Cause"] == "16" and seen[1]["DialStatus"] == "BUSY" and seen[2]["Digit"] == "5"
    assert status["garbage_messages"] == 0


async def test_link_survives_garbage_and_a_100kb_header_and_an_oversized_message():
    rng = random.Random(9)
    garbage = bytes(rng.randrange(256) for _ in range(3000)).replace(b"\n", b"x") + b"\r\n\r\n"
    big_value = "甲" * 10 + "v" * 100_000
    big = f"Event: UserEvent\r\nUniqueid: u-big\r\nData: {big_value}\r\n\r\n".encode()
    huge = b"Event: UserEvent\r\nData: " + b"h" * (2 << 20) + b"\r\n\r\n"
    after = b"Event: Hangup\r\nUniqueid: u-after\r\n\r\n"
    chunks = [garbage, big[:50_000], big[50_000:], huge, after]
    seen, status, logs = await run_through_link(chunks)
    assert [m.get("Uniqueid") for m in seen] == ["u-big", "u-after"]
    assert seen[0]["Data"] == big_value
    assert status["garbage_messages"] == 1 and status["oversized_messages"] == 1
    warned = [e["event"] for e in logs if e["log_level"] == "warning"]
    assert "ami message with neither Event nor Response skipped" in warned
    assert "ami message over the size limit skipped" in warned
    assert status["state"] == "connected"


def test_header_edge_cases_keep_their_meaning():
    from ivr.ami.protocol import parse_message

    msg = parse_message(b"Response: Success\r\nab:c: d\r\nKey:value\r\nEmpty: \r\nBare:\r\nCommandId: 7\r\nCommandID: 8\r\n")
    assert msg.headers == [("Response", "Success"), ("ab", "c: d"), ("Key", "value"), ("Empty", ""), ("Bare", ""), ("CommandId", "7"), ("CommandID", "8")]
    assert msg.get("commandid") == "7" and msg["COMMANDID"] == "7" and msg.getall("CommandID") == ["7", "8"]
    assert msg.response == "Success" and msg.event is None and "Empty" in msg
    follows = parse_message(b"Response: Follows\r\nPrivilege: Command\r\nline one of output\r\n--END COMMAND--\r")
    assert follows.body == ["line one of output", "--END COMMAND--"] and follows.response == "Follows"
    # the first header answers event/response; a later spelling still found case-insensitively
    late = parse_message(b"Privilege: call\r\nevent: Hangup\r\n")
    assert late.event == "Hangup"


def test_messages_compare_by_content_whether_or_not_looked_up():
    a = Message([("Event", "Hangup"), ("Uniqueid", "u")])
    b = Message([("Event", "Hangup"), ("Uniqueid", "u")])
    assert a.get("uniqueid") == "u"
    assert a == b


def test_message_after_an_oversized_one_survives_a_blank_line_split_across_reads():
    """The blank line ending the oversized message starts in one read and ends in the next."""
    big = b"Event: Huge\r\nData: " + b"x" * 300 + b"\r\n"
    after = b"Event: Hangup\r\nUniqueid: pbx1-9.9\r\n\r\n"
    for cut in (0, 1, 2):  # the read ends just before, inside, or after the blank line's CR LF
        parser = Parser(expect_banner=False, max_message=100)
        out = parser.feed(big + b"\r\n"[:cut])
        out += parser.feed(b"\r\n"[cut:] + after)
        kinds = [type(m).__name__ for m in out]
        assert kinds == ["Oversized", "Message"], (cut, kinds)
        assert out[1].get("Uniqueid") == "pbx1-9.9"
