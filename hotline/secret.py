"""One environment variable for the AMI secret, for the engine, the built-in PBX and the AMI check.

Earlier releases documented ``IVR_PBX_SECRET`` (built-in PBX) and ``AMI_SECRET``
(``python -m ivr.ami``); they still work, with a warning, so a trial box set up
from an old page keeps running while its owner renames the variable.
"""

from __future__ import annotations

import os
import sys

AMI_ENV = "HOTLINE_AMI_SECRET"
OLD_AMI_ENVS = ("IVR_PBX_SECRET", "AMI_SECRET")


def ami_secret(env: str = AMI_ENV) -> str | None:
    """The secret from ``env``; for the default name, from an old name (with a warning) when unset."""
    value = os.environ.get(env)
    if value or env != AMI_ENV:
        return value
    for old in OLD_AMI_ENVS:
        value = os.environ.get(old)
        if value:
            print(f"warning: ${old} is an old name for the AMI secret; set ${AMI_ENV} instead", file=sys.stderr)
            return value
    return None
