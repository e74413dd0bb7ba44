"""Scripted callers and agents: what the people on the PBX's lines do.

A caller's keys are timed from the moment the PBX starts waiting for input
(GET DATA once its prompt has played, WAIT FOR DIGIT), not from the start of the
call, so a script keeps working when prompts get longer or the engine slower.
A step whose key is ``None`` lets one input wait time out.
"""

from __future__ import annotations

import math
import random
import time
from dataclasses import dataclass, field
from typing import Callable, Sequence

Seconds = float | Callable[[random.Random], float]


def draw(value: Seconds | None, rng: random.Random) -> float | None:
    if value is None:
        return None
    return float(value(rng)) if callable(value) else float(value)


@dataclass(slots=True)
class CallerScript:
    number: str
    name: str = ""
    did: str = "12345"                  # the number dialled: 12345, 12315, 0431xxxxxxx ...
    context: str = "hotline-in"
    language: str = "zh"
    keys: Sequence[tuple[float, str | None]] = ()
    barge_in: bool = False              # keys may also interrupt prompts that allow it
    dtmf_ms: int = 100
    hangup_after_s: float | None = None          # from the start of the call
    hangup_during_prompt: int | None = None      # the Kth prompt (1-based), half-way through
    hangup_on_hold_after_s: float | None = None  # patience on hold music
    hangup_ringing_after_s: float | None = None  # while an agent's phone rings
    hangup_talk_after_s: float | None = None     # the caller ends the conversation


@dataclass(slots=True)
class AgentBehaviour:
    """What an agent's endpoint does when the engine dials it.

    kind: ``answer``, ``noanswer`` (rings until the Dial times out), ``busy``,
    ``unavailable`` (CHANUNAVAIL) or ``congestion``.  ``talk_s`` None: the agent
    stays until the other side hangs up; otherwise after ``talk_s`` the party
    named by ``ends`` (``agent`` or ``caller``) hangs up.
    """

    kind: str = "answer"
    answer_after_s: Seconds = 0.0
    talk_s: Seconds | None = None
    ends: str = "agent"
    #: Keys the agent presses on the phone while talking: (seconds after the answer, keys), e.g.
    #: (5, "#1") then (6, "12366#"): a feature code (ivr/engine/agent_keys.py).  One key each 0.25 s.
    #: A callable draws them per call (the demo: most calls none).
    keys: Sequence[tuple[float, str]] | Callable[[random.Random], Sequence[tuple[float, str]]] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("answer", "noanswer", "busy", "unavailable", "congestion"):
            raise ValueError(f"agent behaviour kind {self.kind!r} is not one of answer, noanswer, busy, unavailable, congestion")
        if self.ends not in ("agent", "caller"):
            raise ValueError(f"agent behaviour ends={self.ends!r}: expected 'agent' or 'caller'")


#: What a caller can hear; while none of them plays on an answered call, the caller hears silence.
#: INPUT: a wait, with a time limit, for the key the caller was just asked for (the menu's
#: question still open, not silence; a wait with no limit is silence).
PROMPT, HOLD, RINGBACK, TALK, INPUT = 1, 2, 4, 8, 16


class CallerRun:
    """A scripted caller during one call; the PBX calls the ``on_*`` hooks.

    The same hooks tell what the caller hears (a prompt, hold music, an agent's phone
    ringing, a conversation, or a menu waiting for the key it asked for): the longest
    stretch of an answered call with none of them is the record's ``max_silence_s``.
    """

    __slots__ = ("pbx", "script", "caller", "record", "_step", "_key_timer", "_hold_timer",
                 "_ring_timer", "_prompts", "_input", "_timers", "_hearing", "_quiet_since", "_over")

    def __init__(self, pbx, script: CallerScript, caller, record):
        self.pbx = pbx
        self.script = script
        self.caller = caller          # the ;1 leg (the caller's phone)
        self.record = record
        self._step = 0
        self._key_timer = None
        self._hold_timer = None
        self._ring_timer = None
        self._prompts = 0
        self._input = False
        self._timers: list = []
        self._hearing = 0                 # PROMPT | HOLD | RINGBACK | TALK now playing
        self._quiet_since = record.start  # before the answer this counts nothing (see note_silence)
        self._over = False
        if script.hangup_after_s is not None:
            self._timers.append(pbx.later(script.hangup_after_s, self.hang_up))

    def hang_up(self) -> None:
        if not self.caller.gone:
            self.pbx.hangup(self.caller, cause=16, by="caller")

    def close(self) -> None:
        for t in (self._key_timer, self._hold_timer, self._ring_timer, *self._timers):
            if t is not None:
                t.cancel()
        if not self._over:
            self.note_silence()
            self._over = True

    # -- what the caller hears ---------------------------------------------------------------
    def hears(self, sound: int, on: bool) -> None:
        """``sound`` (PROMPT, HOLD, RINGBACK, TALK) started or stopped on the caller's line."""
        if self._over:
            return
        before = self._hearing
        after = before | sound if on else before & ~sound
        if not before and after:
            self.note_silence()           # the quiet stretch ends here
        elif before and not after:
            self._quiet_since = time.time()
        self._hearing = after

    def note_silence(self, now: float | None = None) -> float:
        """Count the quiet stretch running now (if any) into ``max_silence_s``, in PBX seconds;
        only the time since the call was answered counts (before it the caller hears ringing)."""
        rec = self.record
        if not self._hearing and not self._over and rec.answered is not None:
            now = time.time() if now is None else now
            began = max(self._quiet_since, rec.answered)
            quiet = (now - began) * self.pbx.speed
            if quiet > rec.max_silence_s:
                rec.max_silence_s, rec.max_silence_at = round(quiet, 3), began
        return rec.max_silence_s

    # -- input ---------------------------------------------------------------------------
    def on_input_start(self, prompt: bool = False, bounded: bool = True) -> None:
        if not prompt and bounded:
            self.hears(INPUT, True)
        if prompt and not self.script.barge_in:
            return
        self._input = True
        self._arm()

    def on_input_end(self) -> None:
        self.hears(INPUT, False)
        self._input = False
        if self._key_timer is not None:
            self._key_timer.cancel()
            self._key_timer = None

    def _arm(self) -> None:
        keys = self.script.keys
        if self._key_timer is not None or self._step >= len(keys):
            return
        delay, key = keys[self._step]
        if key is None:             # this wait is meant to time out
            self._step += 1
            return
        self._key_timer = self.pbx.later(delay, self._press)

    def _press(self) -> None:
        self._key_timer = None
        if self.caller.gone or not self._input:
            return
        _, key = self.script.keys[self._step]
        self._step += 1
        ms = self.script.dtmf_ms
        last = len(key) - 1
        for i, digit in enumerate(key):   # a key string is dialled digit after digit
            self.pbx.dtmf(self.caller, digit, ms, delay_s=i * 2 * ms / 1000.0,
                          after=self._arm_after_press if i == last else None)

    def _arm_after_press(self) -> None:
        # Once the key has reached the channel and the waiting command has reacted: if
        # the same input wait goes on (more digits wanted), the next step counts from here;
        # otherwise it waits for the next input wait.
        if self._input and not self.caller.gone:
            self._arm()

    # -- prompts, hold, ringing, talk ------------------------------------------------------------
    def on_prompt(self, seconds: float) -> None:
        self.hears(PROMPT, True)
        self._prompts += 1
        if self.script.hangup_during_prompt == self._prompts:
            self._timers.append(self.pbx.later(seconds / 2, self.hang_up))

    def on_prompt_end(self) -> None:
        self.hears(PROMPT, False)

    def on_hold(self, started: bool) -> None:
        self.hears(HOLD, started)
        if started and self.script.hangup_on_hold_after_s is not None and self._hold_timer is None:
            self._hold_timer = self.pbx.later(self.script.hangup_on_hold_after_s, self.hang_up)
        elif not started and self._hold_timer is not None:
            self._hold_timer.cancel()
            self._hold_timer = None

    def on_ringing(self, started: bool) -> None:
        self.hears(RINGBACK, started)
        if started and self.script.hangup_ringing_after_s is not None and self._ring_timer is None:
            self._ring_timer = self.pbx.later(self.script.hangup_ringing_after_s, self.hang_up)
        elif not started and self._ring_timer is not None:
            self._ring_timer.cancel()
            self._ring_timer = None

    def on_talk(self, started: bool = True) -> None:
        self.hears(TALK, started)
        if not started:
            return
        if self.script.hangup_talk_after_s is not None:
            self._timers.append(self.pbx.later(self.script.hangup_talk_after_s, self.hang_up))


# -- random callers for load --------------------------------------------------------------------

@dataclass(slots=True)
class LoadProfile:
    """Callers arriving as a Poisson stream; everything drawn from one seeded generator."""

    rate_per_s: float = 10.0
    calls: int = 100
    seed: int = 1
    dids: Sequence[str] = ("12345",)
    patience_mean_s: float | None = 60.0       # exponential patience on hold; None = endless
    key_choices: Sequence[tuple[str, float]] = (("1", 0.6), ("2", 0.3), ("0", 0.1))
    key_delay_s: tuple[float, float] = (0.3, 2.0)   # uniform
    menu_depth: int = 1                         # keys pressed per call
    abandon_in_menu: float = 0.02               # chance to hang up during the first prompt
    numbers: Sequence[str] = field(default_factory=lambda: ("0431", "0432", "0433", "138", "139"))

    def scripts(self) -> list[tuple[float, CallerScript]]:
        """(arrival offset in PBX seconds, script) for every caller, reproducibly."""
        rng = random.Random(self.seed)
        out = []
        t = 0.0
        keys, weights = zip(*self.key_choices) if self.key_choices else ((), ())
        for i in range(self.calls):
            t += rng.expovariate(self.rate_per_s) if self.rate_per_s > 0 else 0.0
            prefix = rng.choice(list(self.numbers))
            # A fixed line's subscriber number never starts with 0 or 1 (those lead trunk codes
            # and service numbers), so area code + 2-9 + digits; mobiles are 1[3-9]x + digits.
            rest = 11 - len(prefix)
            first = rng.choice("23456789") if prefix.startswith("0") else rng.choice("0123456789")
            number = prefix + first + "".join(rng.choice("0123456789") for _ in range(rest - 1))
            steps = []
            for _ in range(self.menu_depth):
                key = rng.choices(keys, weights)[0] if keys else None
                steps.append((rng.uniform(*self.key_delay_s), key))
            patience = (rng.expovariate(1.0 / self.patience_mean_s)
                        if self.patience_mean_s else None)
            script = CallerScript(
                number=number,
                did=rng.choice(list(self.dids)),
                keys=steps,
                hangup_on_hold_after_s=patience,
                hangup_during_prompt=1 if rng.random() < self.abandon_in_menu else None,
            )
            out.append((t, script))
        return out


def exponential(mean: float) -> Callable[[random.Random], float]:
    """A talk or ring time drawn from an exponential distribution of this mean."""
    if mean <= 0 or math.isnan(mean):
        raise ValueError("mean must be positive")
    return lambda rng: rng.expovariate(1.0 / mean)
