"""What a caller's channel says about them, read once and cleaned.

Caller id name and number come from the caller's side of the network; an
Asterisk that does not clean them passes CR, LF or other control characters
through to AMI, where they split headers or messages.  The engine reads each
value once here, drops control characters, and serves the call with the clean
value, logging once that it had to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ivr.ami.agi_result import parse_env
from ivr.ami.protocol import Message

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_UNKNOWN = ("", "unknown", "<unknown>")


def clean(value: str | None) -> str:
    return _CONTROL.sub("", value or "").strip()


def _known(value: str) -> str:
    return "" if value in _UNKNOWN else value


@dataclass(slots=True)
class CallerData:
    call_id: str
    channel: str
    linkedid: str
    caller: str
    caller_name: str
    dialled: str
    language: str
    context: str
    #: header or AGI variable names whose values held control characters
    cleaned: tuple[str, ...] = ()

    @classmethod
    def from_start(cls, start: Message) -> "CallerData":
        """From an ``AsyncAGIStart`` (its Env) or a ``CoreShowChannel`` item (no Env)."""
        env = parse_env(start.get("Env", ""))
        dirty: list[str] = []

        def read(*sources: tuple[str, str | None]) -> str:
            for name, raw in sources:
                value = clean(raw)
                if raw and value != raw.strip():
                    dirty.append(name)
                if _known(value):
                    return value
            return ""

        uid = read(("Uniqueid", start.get("Uniqueid")), ("agi_uniqueid", env.get("agi_uniqueid")))
        data = cls(
            call_id=uid,
            channel=read(("Channel", start.get("Channel")), ("agi_channel", env.get("agi_channel"))),
            linkedid=read(("Linkedid", start.get("Linkedid"))),
            caller=read(("agi_callerid", env.get("agi_callerid")), ("CallerIDNum", start.get("CallerIDNum"))),
            caller_name=read(("CallerIDName", start.get("CallerIDName")),
                             ("agi_calleridname", env.get("agi_calleridname"))),
            dialled=read(("agi_dnid", env.get("agi_dnid")), ("agi_extension", env.get("agi_extension")),
                         ("Exten", start.get("Exten"))),
            language=read(("agi_language", env.get("agi_language")), ("Language", start.get("Language"))),
            context=read(("Context", start.get("Context")), ("agi_context", env.get("agi_context"))),
        )
        data.cleaned = tuple(dict.fromkeys(dirty))
        return data
