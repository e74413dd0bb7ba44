"""One exception for every mistake a supervisor can make in a file, flag or value.

The CLI prints it as a single line naming the place (``file:line``, a flag, a
value) and exits non-zero; nothing else should reach the user as a traceback.
"""

from __future__ import annotations


class SeatsError(Exception):
    """A user-facing problem: bad input, impossible load, broken file."""

    def __init__(self, message: str, *, where: str | None = None):
        self.where = where
        super().__init__(f"{where}: {message}" if where else message)
