"""One exception for every mistake a supervisor can make in a file, flag or value.

It is the project's :class:`hotline.errors.UserError`, so the command prints it
as a single line naming the place (``file:line``, a flag, a value) and exits 2.
"""

from __future__ import annotations

from hotline.errors import UserError


class SeatsError(UserError):
    """A user-facing problem: bad input, impossible load, broken file."""
