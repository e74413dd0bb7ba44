"""One error convention for every command.

A person who typed a wrong flag or saved a broken file needs one line naming the
place and a status a script can test; a service that does not answer is a
different case (the operator fixes the network, not the input), so it gets its
own status.  Anything else is a bug in this project and is said to be one.
"""

from __future__ import annotations

#: Exit statuses, the same for ivr, acd and seats.
EXIT_USER = 2          # a mistake in a flag, a file or a value
EXIT_UNREACHABLE = 3   # Redis, PostgreSQL or the AMI did not answer
EXIT_BUG = 1           # anything else: a traceback with --debug


class UserError(Exception):
    """A user's mistake, already phrased as one line naming the file:line, flag or value."""

    code = EXIT_USER

    def __init__(self, message: str, *, where: str | None = None, code: int | None = None):
        self.where = where
        if code is not None:
            self.code = code
        super().__init__(f"{where}: {message}" if where else message)


class Unreachable(UserError):
    """A service the command needs did not answer; the message names its address."""

    code = EXIT_UNREACHABLE

    def __init__(self, what: str, address: str, reason: BaseException | str | None = None):
        self.address = address
        super().__init__(f"{what} at {address} did not answer" + (f": {describe(reason)}" if reason else ""))


def describe(reason: BaseException | str) -> str:
    """Why a connection failed, in words (never 'Unknown error -2' or a raw errno tuple)."""
    if isinstance(reason, str):
        return reason
    import socket

    if isinstance(reason, socket.gaierror):
        return "unknown host name"
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused (nothing listens there)"
    if isinstance(reason, TimeoutError):
        return "timed out"
    errors = [e for e in getattr(reason, "exceptions", ()) if isinstance(e, BaseException)]
    if errors:                          # asyncio's "Multiple exceptions" for IPv4 and IPv6 tries
        return describe(errors[0])
    text = getattr(reason, "strerror", None) or str(reason) or type(reason).__name__
    if text.startswith("[Errno"):
        text = text.split("] ", 1)[-1]
    if "Connect call failed" in text or "Unknown error -2" in text or "Name or service not known" in text:
        return "unknown host name" if ("-2" in text or "not known" in text) else "connection refused"
    return text
