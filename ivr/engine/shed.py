"""What a new caller gets while Asterisk is overloaded: a short notice and a callback.

When Asterisk answers the engine late (``AmiLink.overloaded``) every extra AGI
command makes things worse for the callers already held.  A new caller then
hears one notice (``system_fault``: lines are busy, we will call you back), is
put in line for a callback (the ACD keeps their place and rings them back when
an agent is free, agent first) and the channel is hung up: three commands
instead of a menu, hold music and announcements.  The calls already held are
never let go.
"""

from __future__ import annotations

import time
from typing import Any, Callable

from acd.model import CallRequest
from ivr import log as logmod
from ivr.engine.records import CallRecord
from ivr.flows.model import placeholder_sound

NOTICE_PROMPT_ID = "system_fault"


class ShedProgram:
    def __init__(self, acd: Any, route: Callable[[str, str], tuple[str, str]],
                 notice_sound: Callable[[str], str] | None = None):
        self.acd = acd
        #: (dialled, caller) -> (center, language) of the call, from the flows' routing
        self.route = route
        self.notice_sound = notice_sound or (lambda lang: placeholder_sound(NOTICE_PROMPT_ID, lang))

    async def __call__(self, call, record: CallRecord) -> None:
        log = logmod.get("ivr.shed", call_id=call.call_id)
        center, lang = self.route(call.dialled, call.caller)
        await call.answer()
        record.answered = time.time()
        await call.play([self.notice_sound(lang)])
        queue = center if center in self.acd.config.queues else next(iter(self.acd.config.queues))
        request = CallRequest(call_id=call.call_id, queue=queue, caller=call.caller, dialled=call.dialled,
                              center=center, language=lang, channel=call.channel)
        await self.acd.enqueue(request)
        registered = await self.acd.request_callback(call.call_id)
        record.queue, record.queued = queue, time.time()
        record.outcome = "shed"
        record.reason = "Asterisk overloaded: " + ("callback registered" if registered else "no callback possible")
        log.warning("call.shed", queue=queue, callback=registered)
        await call.hangup()
