"""Errors the AMI link raises, each a single line naming the place it concerns.

They all derive from :class:`AmiError` so ``ivr serve`` can catch one class and
print one line; callers that care tell them apart (an ``AmiActionError`` means
Asterisk answered and said no, an ``AmiConnectionLost`` means nobody knows
whether the action ran, so it must not be retried blindly).
"""

from __future__ import annotations

from ivr.ami.protocol import ProtocolError

__all__ = [
    "AmiError",
    "AmiConnectError",
    "AmiLoginError",
    "AmiTimeout",
    "AmiConnectionLost",
    "AmiActionError",
    "ProtocolError",
]


class AmiError(Exception):
    """Base of every failure of the AMI link."""


class AmiConnectError(AmiError):
    """The PBX could not be reached, or what answered does not speak AMI."""


class AmiLoginError(AmiError):
    """Asterisk refused the Login (wrong user or secret, or not permitted)."""


class AmiTimeout(AmiError):
    """An action got no answer before its deadline; it may or may not have run."""

    def __init__(self, message: str, *, action: str = "") -> None:
        super().__init__(message)
        self.action = action


class AmiConnectionLost(AmiError):
    """The connection went away while the action waited (or before it was sent).

    The action is never re-sent by the link: an Originate or a Dial must not
    run twice because a TCP connection broke.
    """

    def __init__(self, message: str, *, action: str = "", sent: bool = True) -> None:
        super().__init__(message)
        self.action = action
        #: False when the action never left this process: it certainly did not run,
        #: so it may be sent again once the link is back.
        self.sent = sent


class AmiActionError(AmiError):
    """Asterisk answered ``Response: Error``; ``str(exc)`` is Asterisk's Message text."""

    def __init__(self, message: str, *, action: str = "", response=None) -> None:
        super().__init__(message)
        self.message = message
        self.action = action
        #: the whole :class:`ivr.ami.protocol.Message` Asterisk sent
        self.response = response
