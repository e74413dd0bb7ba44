"""Phone numbers and dial strings: what may be rung back, and what may reach a Dial.

A caller id is whatever the PBX put there (``anonymous``, ``unknown``, ``666@agents``,
a short service number); a dial string ends up in an Asterisk ``Dial`` or
``Originate`` where ``,`` ``&`` ``|`` ``(`` ``)`` or ``${...}`` change what runs.  So
nothing raw is ever pasted into one: every number and every dial string passes one
of the checks below, and ``Local/...`` strings are built only by :func:`local_channel`
from parts that passed.

Pure functions, no I/O; each refusal is a :class:`BadNumber` or :class:`BadDialString`
whose text says why in one line.

Chinese numbers (GB/T and MIIT numbering plan), in the form a Chinese trunk dials:

- mobile: 11 digits, ``1[3-9]`` then 9 digits (``13912345678``);
- fixed line with its area code: ``0`` + ``10`` or ``2X`` + 8 digits (11 digits), or
  ``0`` + 3 digits (``431`` Changchun, ``433`` Yanbian ...) + 7 or 8 digits (11-12);
  the subscriber part starts with 2-9;
- ``+86`` / ``0086`` / ``86`` + a national number is the same number (``+86431...`` is
  ``0431...``); any other ``+CC...`` (8-15 digits, E.164) is dialled as ``00CC...``.

Not callback targets: a local number without its area code (which area?), service and
short numbers (110, 119, 120, 122, 12345, 10086, 95xxx, 96xxx), 400/800 numbers, and
anything that is not digits with an optional leading ``+``.
"""

from __future__ import annotations

import re

__all__ = [
    "BadNumber", "BadDialString", "callback_number", "check_exten", "check_context",
    "check_dial_string", "local_channel",
]


class BadNumber(ValueError):
    """A number that cannot be rung back (or dialled); str() says why."""


class BadDialString(ValueError):
    """A dial string, extension or context that must not reach Asterisk; str() says why."""


_MOBILE = re.compile(r"1[3-9][0-9]{9}")
_FIXED_BIG_CITY = re.compile(r"0(?:10|2[0-9])[2-9][0-9]{7}")       # Beijing, 02X: 8-digit subscribers
_FIXED = re.compile(r"0[3-9][0-9]{2}[2-9][0-9]{6,7}")              # 4-digit area codes: 7-8 digits
_INTERNATIONAL = re.compile(r"[1-9][0-9]{7,14}")                  # E.164 without the +: at most 15 digits
_WORDS = {"", "anonymous", "unknown", "unavailable", "restricted", "private", "withheld", "<unknown>",
          "asterisk", "s"}


def callback_number(raw: object) -> str:
    """The number to ring back, normalised to the digits a Chinese trunk dials.

    Raises :class:`BadNumber` for anything that is not a person's dialable number.
    """
    if not isinstance(raw, str):
        raise BadNumber(f"not a number: {type(raw).__name__}")
    text = raw.strip()
    if text.lower() in _WORDS:
        raise BadNumber("caller number withheld or unknown")
    if len(text) > 20:
        raise BadNumber(f"too long for a phone number ({len(text)} characters)")
    body = text[1:] if text.startswith("+") else text
    if not body.isascii() or not body.isdigit():
        raise BadNumber("only digits and a leading + make a phone number")
    if text.startswith("+"):
        return _international(body)
    if body.startswith("00"):
        return _international(body[2:])
    if body.startswith("86") and len(body) == 13 and _MOBILE.fullmatch(body[2:]):
        return body[2:]                      # 86 + mobile, as some trunks present it
    return _national(body)


def _international(digits: str) -> str:
    if digits.startswith("86"):
        national = digits[2:]
        return _national(national if national.startswith("1") else "0" + national)
    if not _INTERNATIONAL.fullmatch(digits):
        raise BadNumber("an international number has 8 to 15 digits after its +")
    return "00" + digits


def _national(digits: str) -> str:
    if _MOBILE.fullmatch(digits) or _FIXED_BIG_CITY.fullmatch(digits) or _FIXED.fullmatch(digits):
        return digits
    if digits.startswith("1") and len(digits) == 11:
        raise BadNumber("not a mobile number (mobiles start 13-19)")
    if digits.startswith("0"):
        raise BadNumber("not a fixed line: area code then 7-8 digits")
    if len(digits) in (7, 8) and digits[0] in "23456789":
        raise BadNumber("a local number without its area code")
    if len(digits) <= 6 or digits[:3] in ("400", "800") or digits[:2] in ("95", "96", "10", "11", "12"):
        raise BadNumber("a service or short number, not a person's line")
    raise BadNumber(f"not a Chinese phone number ({len(digits)} digits)")


# --- dial strings -----------------------------------------------------------------------------

_EXTEN = re.compile(r"\+?[0-9]{1,32}")
_CONTEXT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,78}")
_TECH = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,31}")
_RESOURCE_CHARS = re.compile(r"[A-Za-z0-9_.+\-@/:#*]+")
_LOCAL_RESOURCE = re.compile(r"(\+?[0-9A-Za-z_*#.\-]{1,64})@([A-Za-z0-9][A-Za-z0-9_-]{0,78})(/[nmbj]{1,4})?")


def check_exten(exten: object) -> str:
    """An extension for ``Local/``, ``Originate Exten`` or a transfer: 1-32 digits, optional leading +."""
    if not isinstance(exten, str) or not _EXTEN.fullmatch(exten):
        raise BadDialString(f"extension {_show(exten)} is not 1-32 digits (optional leading +)")
    return exten


def check_context(context: object) -> str:
    """A dialplan context name: letters, digits, ``_`` and ``-``, at most 79 characters."""
    if not isinstance(context, str) or not _CONTEXT.fullmatch(context):
        raise BadDialString(f"context {_show(context)} is not a dialplan context name")
    return context


def local_channel(exten: str, context: str) -> str:
    """``Local/{exten}@{context}`` from an extension and a context that both pass their checks."""
    return f"Local/{check_exten(exten)}@{check_context(context)}"


def check_dial_string(dial: object) -> str:
    """An agent's configured dial string (``PJSIP/1001``, ``Local/1001@agents``, ``SIP/trunk/1001``).

    One device, ``TECH/RESOURCE``: nothing that Dial would read as a second device (``&``),
    an option or timeout (``,`` ``|``), a function or variable (``(`` ``)`` ``$`` ``{``), and
    no spaces or control characters.  Returns the string unchanged.
    """
    if not isinstance(dial, str) or not dial:
        raise BadDialString("dial string is empty")
    if len(dial) > 128:
        raise BadDialString(f"dial string is {len(dial)} characters long (at most 128)")
    tech, sep, resource = dial.partition("/")
    if not sep or not _TECH.fullmatch(tech):
        raise BadDialString(f"dial string {_show(dial)} is not TECH/RESOURCE (e.g. PJSIP/1001)")
    bad = next((ch for ch in resource if not _RESOURCE_CHARS.fullmatch(ch)), None)
    if bad is not None:
        raise BadDialString(f"dial string {_show(dial)} contains {_show(bad)}")
    if not resource or "@@" in resource or "//" in resource or resource[0] in "@/" or resource[-1] in "@/":
        raise BadDialString(f"dial string {_show(dial)} has an empty part")
    if tech.lower() == "local" and not _LOCAL_RESOURCE.fullmatch(resource):
        raise BadDialString(f"dial string {_show(dial)} is not Local/EXTEN@CONTEXT")
    return dial


def _show(value: object) -> str:
    """A refused value as one safe line: control characters made visible, length capped."""
    text = value if isinstance(value, str) else repr(value)
    return repr(text[:40] + ("..." if len(text) > 40 else ""))
