"""The built-in PBX: an asyncio AMI server that behaves like the recorded Asterisk.

Asterisk cannot run everywhere the project runs (tests, CI, the demo), so this
package plays its part over real TCP: AMI login and events, Local channels,
AsyncAGI, Dial to scripted agents, and scripted callers.  See docs/pbx.md.

    pbx = Pbx(PbxConfig.load(secret="s3cret", speed=20))
    host, port = await pbx.start()
    handle = pbx.place_call(CallerScript(number="043188886666", name="张三", keys=[(0.5, "1")]))
    record = await handle.wait()
"""

from .config import ConfigError, PbxConfig
from .core import CallHandle, Pbx
from .records import CallRecord, DialRecord
from .scripts import AgentBehaviour, CallerScript, LoadProfile, exponential

__all__ = [
    "AgentBehaviour", "CallHandle", "CallRecord", "CallerScript", "ConfigError", "DialRecord",
    "LoadProfile", "Pbx", "PbxConfig", "exponential",
]
