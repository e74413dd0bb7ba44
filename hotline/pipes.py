"""A command whose reader went away (`ivr check | head`) ends quietly, as Unix tools do."""

from __future__ import annotations

import os
import sys

#: 128 + SIGPIPE, what a shell reports for a writer killed by a closed pipe.
EXIT_PIPE = 141


def reader_gone() -> int:
    """Point stdout at /dev/null so the interpreter's final flush raises nothing, and exit 141."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_PIPE
