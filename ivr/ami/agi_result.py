"""AGI answers as AsyncAGI delivers them, turned into plain data.

Asterisk sends the answer to an AGI command inside ``Event: AsyncAGIExec`` as a
URL-encoded ``Result`` (``200%20result%3D1%20(ANSWER)%0A``) and the channel's
AGI environment inside ``Event: AsyncAGIStart`` as a URL-encoded ``Env``.  The
flow code wants to know three things of an answer: did it work, what did it
return, and is the caller still there; :class:`AgiResult` holds exactly that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

# "200 result=1 (ANSWER)", "200 result=0 endpos=11360", "200 result= (timeout)"
_PAIR = re.compile(r"(\w+)=(\S*)")
_HEAD = re.compile(r"^(\d{3})([ -])(.*)$")

#: Asterisk's code for a command on a channel that is gone.
DEAD_CHANNEL = 511


@dataclass(frozen=True, slots=True)
class AgiResult:
    #: 200 success, 510 unknown command, 511 dead channel, 520 bad syntax; 0 for
    #: ``HANGUP`` and for text that is not an AGI answer at all.
    code: int
    #: the value after ``result=`` ('' for ``result=``, None when absent)
    result: str | None
    #: text in parentheses (``ANSWER``, ``timeout``, a variable's value) or, for
    #: an error code, Asterisk's explanation
    data: str
    endpos: int | None
    #: the command did what was asked (200 and result not -1)
    ok: bool
    #: the caller is gone: ``HANGUP``, a 511, ``result=-1`` or ``(hangup)``
    hung_up: bool
    raw: str = ""

    @property
    def number(self) -> int | None:
        """``result`` as an integer (a digit's ASCII code, a count), None if not one."""
        try:
            return int(self.result) if self.result else None
        except ValueError:
            return None


def parse(text: str) -> AgiResult:
    """Parse one AGI answer (already URL-decoded); never raises on odd input."""
    raw = text
    text = text.strip("\r\n ")
    if text == "HANGUP":
        return AgiResult(0, None, "", None, False, True, raw)
    lines = [line.rstrip("\r") for line in text.split("\n")]
    head = _HEAD.match(lines[0]) if lines else None
    if head is None:
        return AgiResult(0, None, text, None, False, False, raw)
    code = int(head.group(1))
    rest = head.group(3)
    if code != 200:
        if head.group(2) == "-":
            # 520-...: usage text follows until "520 End of proper usage."
            body = [rest] + [ln for ln in lines[1:] if not ln.startswith(f"{code} ")]
            data = "\n".join(body).strip()
        else:
            data = rest.strip()
        return AgiResult(code, None, data, None, False, code == DEAD_CHANNEL, raw)
    data = ""
    paren = rest.find("(")
    if paren >= 0:
        close = rest.rfind(")")
        data = rest[paren + 1 : close if close > paren else len(rest)]
        pairs_text = rest[:paren]
    else:
        pairs_text = rest
    pairs = dict(_PAIR.findall(pairs_text))
    result = pairs.get("result")
    endpos_text = pairs.get("endpos")
    endpos = int(endpos_text) if endpos_text and endpos_text.lstrip("-").isdigit() else None
    hung_up = result == "-1" or data == "hangup"
    return AgiResult(200, result, data, endpos, not hung_up, hung_up, raw)


def decode_exec_result(encoded: str) -> AgiResult:
    """Parse the ``Result`` header of an ``AsyncAGIExec`` event."""
    return parse(unquote(encoded))


def parse_env(encoded: str) -> dict[str, str]:
    """Decode the ``Env`` header of an ``AsyncAGIStart`` event into a dict.

    The header is the URL-encoded text a FastAGI script would read on stdin:
    ``agi_name: value`` lines ending in a blank line.  Values are UTF-8, so a
    caller name like 张三 comes out as text.
    """
    env: dict[str, str] = {}
    for line in unquote(encoded).split("\n"):
        if not line:
            continue
        key, sep, value = line.partition(":")
        if sep:
            env[key.strip()] = value[1:] if value.startswith(" ") else value
    return env
