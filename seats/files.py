"""Reading a supervisor's input file as text, with every way it can fail said in one line.

Rosters, forecasts, people lists and agent logs come from spreadsheets and other
people's tools: saved as GBK, cut off at zero bytes, left unreadable by another
account.  Each of those is the user's to fix, so each is a :class:`SeatsError`
naming the file (and the line of the first bad byte), never a traceback.
"""

from __future__ import annotations

import pathlib

from seats.errors import SeatsError


def read_text(path: pathlib.Path | str, what: str) -> str:
    """The whole file as UTF-8 (a BOM is dropped); ``what`` names it in messages ("roster", "forecast")."""
    path = pathlib.Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SeatsError(f"cannot read {what}: {exc.strerror or exc}", where=str(path)) from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SeatsError(f"{what} is not UTF-8 text (byte 0x{data[exc.start]:02x}; "
                         f"save it as UTF-8, e.g. not GBK)", where=f"{path}:{line}") from None
    if not text.strip():
        raise SeatsError(f"the {what} file is empty", where=str(path))
    return text
