"""A command piped into `head` ends quietly when the reader goes away: no traceback."""

from __future__ import annotations

import subprocess
import sys


def test_a_reader_that_goes_away_ends_the_command_quietly():
    cmd = [sys.executable, "-m", "ivr.cli", "simulate", "--did", "12345", "--caller", "043188881234",
           "--all-paths", "--json"]          # some 400 kB: more than a pipe holds
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdout.read(10)
    p.stdout.close()                         # as `| head -c 10` does
    err = p.stderr.read().decode()
    assert p.wait(60) == 141
    assert "Traceback" not in err and "BrokenPipe" not in err
