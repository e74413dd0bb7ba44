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

from acd.api import AcdApi
from acd.model import CallRequest
from hotline import log as logmod
from ivr.engine.records import CallRecord
from ivr.flows.model import placeholder_sound

NOTICE_PROMPT_ID = "system_fault"


class ShedProgram:
    def __init__(self, acd: AcdApi, route: Callable[[str, str], tuple[str, str]],
                 notice_sound: Callable[[str], str] | None = None, services: Any = None):
        self.acd = acd
        #: The ACD glue that holds a caller on music until an agent is free (``keep``).
        self.services = services
        #: (dialled, caller) -> (center, language) of the call, from the flows' routing
        self.route = route
        self.notice_sound = notice_sound or (lambda lang: placeholder_sound(NOTICE_PROMPT_ID, lang))

    async def __call__(self, call, record: CallRecord) -> None:
        log = logmod.get("ivr.shed", call_id=call.call_id)
        center, lang = self.route(call.dialled, call.caller)
        await call.answer()
        record.answered = time.time()
        await call.play([self.notice_sound(lang)])
        queues = self.acd.queue_ids()
        queue = center if center in queues else queues[0]
        request = CallRequest(call_id=call.call_id, queue=queue, caller=call.caller, dialled=call.dialled,
                              center=center, language=lang, channel=call.channel)
        await self.acd.enqueue(request)
        record.queue, record.queued = queue, time.time()
        if not await self.acd.request_callback(call.call_id):
            # No number to call back (withheld, a service number), or an agent was free at once:
            # keep the caller on the line like anyone else.
            log.warning("call.shed_kept", queue=queue, reason="no callback: no usable number, or an agent is free")
            await self.keep(call, record, queue, lang)
            return
        record.outcome = "shed"
        record.reason = "Asterisk overloaded: callback registered"
        log.warning("call.shed", queue=queue)
        await call.hangup()

    async def keep(self, call, record: CallRecord, queue: str, lang: str) -> None:
        """The caller already has their place in line: wait for an agent there like anyone else."""
        if self.services is None:
            await self.acd.abandoned(call.call_id)
            record.outcome, record.reason = "failed", "Asterisk overloaded, no number to call back"
            await call.hangup()
            return
        result = await self.services.enqueue(call, queue, [], 0, {"language": lang})
        record.outcome = "answered" if result.talked else record.outcome
