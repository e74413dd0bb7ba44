"""What a caller in a queue hears between chunks of hold music, and the callback they may take.

A caller who only hears "please hold" cannot tell a one-minute wait from a
twenty-minute one, and hangs up at random; told their place and the expected
wait (from the queue's live figures) they can decide, and a callback that keeps
their place lets them decide without losing it.  Everything is said with the
project's own prompts (config/prompts.yaml, made into audio by ``ivr prompts``),
numbers included, so nothing depends on Asterisk's stock English sounds.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from acd import phone
from acd.api import AcdApi
from ivr.agi.interface import CallControl

#: The generic announcement, when the place is unknown (the ACD's store is away).
GENERIC = "queue_wait"
AHEAD, AHEAD_END = "queue_ahead", "queue_ahead_end"        # 您前面还有 | N | 位
ETA, ETA_END = "queue_eta", "queue_eta_end"                # 预计等待 | M | 分钟
NEXT = "queue_next"                                        # 您是下一位
OFFER, KEPT = "callback_offer", "callback_kept"            # press 1 / registered, goodbye
ACCEPT_KEY = "1"
#: Seconds (PBX time) the offer waits for the key after its prompt.
OFFER_WAIT_S = 4.0
#: Numbers above this are read as this (a place in line of ten thousand is read out by nobody).
MAX_SPOKEN = 9999

_UNITS = ((1000, "num_1000"), (100, "num_100"), (10, "num_10"), (1, ""))


def number_prompts(n: int, lang: str) -> list[str]:
    """Prompt ids reading ``n`` as a count: Chinese (两 for a lone 2, 零 for a gap: 一百零五) or
    Sino-Korean (일 before a unit is left out: 백십), the numerals a count of calls and minutes takes."""
    n = max(0, min(int(n), MAX_SPOKEN))
    if n == 0:
        return ["num_0"]
    if n == 2 and lang != "ko":
        return ["num_liang"]
    out: list[str] = []
    gap = False
    for value, unit in _UNITS:
        digit, n = divmod(n, value)
        if digit == 0:
            gap = gap or bool(out)
            continue
        if gap and lang != "ko":
            out.append("num_0")
        gap = False
        lead_one = digit == 1 and unit and (lang == "ko" or (unit == "num_10" and not out))
        out.extend(([] if lead_one else [f"num_{digit}"]) + ([unit] if unit else []))
    return out


def minutes(wait_s: float) -> int:
    """Whole minutes, rounded up: a caller told "1 minute" who waits 90 s feels misled."""
    return max(1, math.ceil(wait_s / 60.0))


def announcement(place: int, wait_s: float, lang: str) -> list[str]:
    """Prompt ids for a caller at ``place`` (1 = next) expected to wait ``wait_s`` seconds."""
    if place <= 0:
        return [GENERIC]
    ids = [NEXT] if place == 1 else [AHEAD, *number_prompts(place - 1, lang), AHEAD_END]
    if 0 < wait_s < float("inf") and place > 1:
        ids += [ETA, *number_prompts(minutes(wait_s), lang), ETA_END]
    return ids


class CallbackAccepted(Exception):
    """The caller pressed 1 and the ACD turned their place in line into a callback task."""


@dataclass
class WaitPlan:
    """One caller's announcements and callback offers, over every return to the line.

    Times are PBX seconds (the built-in PBX and the ACD's clock may run faster than
    the wall clock: ``speed``), the unit of the queue's settings.
    """
    announce_every_s: float
    offer_after_s: float | None          # None: no callback offers (disabled, or no usable number)
    speed: float = 1.0
    started: float = field(default_factory=time.time)
    offers: int = 0
    next_offer_s: float | None = None

    def __post_init__(self) -> None:
        self.next_offer_s = self.offer_after_s

    def waited_s(self) -> float:
        return (time.time() - self.started) * self.speed

    def offer_now(self) -> None:
        """The queue is over max_waiting, or the wait is known to be long: offer at the next turn."""
        if self.offer_after_s is not None:
            self.next_offer_s = 0.0

    def offer_due(self) -> bool:
        return self.next_offer_s is not None and self.waited_s() >= self.next_offer_s - 0.5

    def offered(self) -> None:
        """Declined (no key): offer again after another ``callback_offer_after_s``."""
        self.offers += 1
        if self.offer_after_s is not None:
            self.next_offer_s = self.waited_s() + self.offer_after_s

    def chunk_s(self) -> float:
        """Music until the next announcement or the next offer, whichever comes first."""
        chunk = self.announce_every_s
        if self.next_offer_s is not None:
            chunk = min(chunk, max(1.0, self.next_offer_s - self.waited_s()))
        return chunk


def plan_for(acd: AcdApi, call: CallControl, queue: str, *, announce_every_s: float | None, speed: float) -> WaitPlan:
    """The queue's periods (config/acd.yaml); offers only where the caller can be rung back."""
    try:
        terms = acd.queue_terms(queue)
        every, after = terms.announce_every_s, terms.callback_offer_after_s
        enabled = acd.callback_terms().enabled
    except Exception:
        every, after, enabled = 30.0, None, False
    try:
        phone.callback_number(call.caller)
    except phone.BadNumber:
        enabled = False
    return WaitPlan(announce_every_s=announce_every_s or every, offer_after_s=after if enabled else None, speed=speed)


async def offer_callback(call: CallControl, acd: AcdApi, sound: Callable[[str], str], log) -> None:
    """Offer a callback that keeps the caller's place; raise CallbackAccepted once the ACD has it.

    No key, another key, or a number the ACD will not ring back: the caller simply waits on.
    """
    digit = await call.play([sound(OFFER)], interrupt_on=ACCEPT_KEY)
    if digit is None:
        digit = await call.wait_for_digit(OFFER_WAIT_S)
    if digit != ACCEPT_KEY:
        log.info("acd.callback_declined", key=digit or None)
        return
    if await acd.request_callback(call.call_id):
        log.info("acd.callback_accepted")
        raise CallbackAccepted()
    log.warning("acd.callback_not_taken", reason="number cannot be rung back, or an agent was just claimed")
