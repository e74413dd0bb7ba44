"""Event classes, per-session masks and filters, and the header blocks events share.

Asterisk decides per session whether an event goes out in two steps (see
``main/manager.c``): the event's class must be in the session's read permission
and its ``Events`` mask, then the session's filters must pass it.  Filters are
regular expressions searched in the whole event text (so ``Event: Hangup`` also
passes ``HangupRequest``); a filter starting with ``!`` excludes.  With only
including filters an event must match one; with only excluding ones it must
match none; with both it must match an including one and no excluding one.
"""

from __future__ import annotations

import re

from ivr.ami.protocol import check_value

# Class bits as in include/asterisk/manager.h.
SYSTEM, CALL, LOG, VERBOSE, COMMAND, AGENT, USER, CONFIG = 1, 2, 4, 8, 16, 32, 64, 128
DTMF, REPORTING, CDR, DIALPLAN, ORIGINATE, AGI, CC, AOC = 256, 512, 1024, 2048, 4096, 8192, 16384, 32768
TEST, SECURITY, MESSAGE = 65536, 131072, 262144

CLASS_NAMES = {
    "system": SYSTEM, "call": CALL, "log": LOG, "verbose": VERBOSE, "command": COMMAND,
    "agent": AGENT, "user": USER, "config": CONFIG, "dtmf": DTMF, "reporting": REPORTING,
    "cdr": CDR, "dialplan": DIALPLAN, "originate": ORIGINATE, "agi": AGI, "cc": CC,
    "aoc": AOC, "test": TEST, "security": SECURITY, "message": MESSAGE,
}
ALL = sum(CLASS_NAMES.values())
PRIVILEGE = {bit: f"{name},all" for name, bit in CLASS_NAMES.items()}


def parse_mask(text: str | None) -> int | None:
    """``on``/``off``/a number/a comma list of class names; ``None`` when unusable."""
    if text is None:
        return None
    t = text.strip().lower()
    if t in ("on", "yes", "true", "all"):
        return ALL
    if t in ("off", "no", "false", "none", ""):
        return 0
    if t.isdigit():
        return int(t)
    mask = 0
    for part in t.split(","):
        part = part.strip()
        if part == "all":
            return ALL
        bit = CLASS_NAMES.get(part)
        if bit is None:
            return None
        mask |= bit
    return mask


class Filters:
    """One session's ``Filter`` actions, applied as Asterisk 13 applies them."""

    __slots__ = ("include", "exclude")

    def __init__(self) -> None:
        self.include: list[re.Pattern[str]] = []
        self.exclude: list[re.Pattern[str]] = []

    def __bool__(self) -> bool:
        return bool(self.include or self.exclude)

    def add(self, text: str) -> bool:
        """Returns False when the expression does not compile."""
        negate = text.startswith("!")
        try:
            rx = re.compile(text[1:] if negate else text)
        except re.error:
            return False
        (self.exclude if negate else self.include).append(rx)
        return True

    def passes(self, event_text: str) -> bool:
        if self.include and not any(rx.search(event_text) for rx in self.include):
            return False
        if self.exclude and any(rx.search(event_text) for rx in self.exclude):
            return False
        return True


STATE_DESC = {0: "Down", 1: "Rsrvd", 2: "OffHook", 3: "Dialing", 4: "Ring", 5: "Ringing",
              6: "Up", 7: "Busy", 8: "Dialing Offhook", 9: "Pre-ring"}

CAUSE_TEXT = {
    0: "Unknown", 1: "Unallocated (unassigned) number", 16: "Normal Clearing", 17: "User busy",
    18: "No user responding", 19: "User alerting, no answer", 21: "Call Rejected",
    32: "Unknown", 34: "Circuit/channel congestion", 38: "Network out of order",
}


def channel_block(ch, prefix: str = "") -> list[tuple[str, object]]:
    """The 14 headers that describe a channel (``Dest`` / ``LocalOne`` prefixed forms too)."""
    unknown = "<unknown>"
    return [
        (prefix + "Channel", ch.name),
        (prefix + "ChannelState", ch.state),
        (prefix + "ChannelStateDesc", STATE_DESC.get(ch.state, "Unknown")),
        (prefix + "CallerIDNum", ch.cid_num or unknown),
        (prefix + "CallerIDName", ch.cid_name or unknown),
        (prefix + "ConnectedLineNum", ch.conn_num or unknown),
        (prefix + "ConnectedLineName", ch.conn_name or unknown),
        (prefix + "Language", ch.language),
        (prefix + "AccountCode", ""),
        (prefix + "Context", ch.context),
        (prefix + "Exten", ch.exten),
        (prefix + "Priority", ch.priority),
        (prefix + "Uniqueid", ch.uniqueid),
        (prefix + "Linkedid", ch.linkedid),
    ]


def bridge_block(br) -> list[tuple[str, object]]:
    return [
        ("BridgeUniqueid", br.uniqueid),
        ("BridgeType", "basic"),
        ("BridgeTechnology", "simple_bridge"),
        ("BridgeCreator", "<unknown>"),
        ("BridgeName", "<unknown>"),
        ("BridgeNumChannels", len(br.members)),
        ("BridgeVideoSourceMode", "none"),
    ]


#: Headers that carry a caller id (with any prefix: Dest, LocalOne, Effective...).
_CALLER_ID_HEADERS = ("CallerIDNum", "CallerIDName", "ConnectedLineNum", "ConnectedLineName")


def encode_raw_caller_id(headers) -> bytes:
    """``ivr.ami.protocol.encode`` for an Asterisk that does not clean caller ids: the
    values of caller-id headers go out verbatim, CR/LF included, so a test can see
    what such a PBX puts on the wire; every other header is still refused a CR/LF."""
    lines: list[str] = []
    for key, value in headers:
        if value is None:
            continue
        for v in value if isinstance(value, (list, tuple)) else (value,):
            s = v if isinstance(v, str) else str(v)
            if not key.endswith(_CALLER_ID_HEADERS):
                check_value(key, s)
            lines.append(f"{key}: {s}\r\n")
    lines.append("\r\n")
    return "".join(lines).encode("utf-8")
