"""Times as people type them on the command line: the hotline's own clock is China's (UTC+8).

One parser for `acd export` (which also takes ages like 24h) and `acd report`; each
command phrases the refusal in its own error class.
"""

from __future__ import annotations

import datetime as dt
import re
import time

CHINA = dt.timezone(dt.timedelta(hours=8))
_AGE = re.compile(r"^(\d+(?:\.\d+)?)([smhd])$")


def epoch(text: str, *, now: float | None = None, ages: bool = True) -> float | None:
    """Epoch seconds for an ISO date or date-time (China time without a zone), or, with
    ``ages``, an age before ``now`` such as 30m, 24h, 7d; None when it is neither."""
    text = text.strip()
    m = _AGE.match(text) if ages else None
    if m:
        now = time.time() if now is None else now
        return now - float(m.group(1)) * {"s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]
    try:
        when = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return (when if when.tzinfo else when.replace(tzinfo=CHINA)).timestamp()
