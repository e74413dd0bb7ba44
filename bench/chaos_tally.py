"""The chaos benchmark's verdict: what the PBX, the engine and the ACD each say of every call.

Three witnesses, each kept apart from the others:

- the PBX's own records (``--records``, the calls in flight listed before each SIGKILL, the
  calls still up at the deadline): who answered, how it ended, the longest silence;
- the engine's ``call.end`` log lines: outcome, reason, agent;
- the ACD in Redis: the call's state and agent, the 24 h statistics' outcome (``out:<queue>``,
  ``A`` answered or ``X`` abandoned), the call record ``acd export`` gives, the agents' states.

A call disagrees when two witnesses tell a different story about whether a person answered
(or which one), or when the ACD still holds a call that is over; a call is stuck when it had
no end by the deadline (a PBX channel up, a call the engine holds, a call the PBX ended
that the engine has no end for); an agent is wrong when,
with everything quiet, the ACD still shows them ringing or talking, in a wrap-up long over,
logged out, or paused for "no answer" (the PBX's agents always answer).
"""

from __future__ import annotations

import re
from collections import Counter

AGENT = re.compile(r"^Local/(\d+)@agents")
AGENT_LEG = re.compile(r"^Local/(\d+)@agents-[0-9a-f]+;2$")      # a callback's originate: the agent's phone
#: Problems listed with their evidence but not counted as records that disagree about an answer.
NOT_DISAGREEING = ("stuck", "failed", "end_reason", "agent_double_booked")
QUIET_STATES = ("available",)


def pbx_agent(rec: dict) -> str:
    """The agent who answered last on the PBX (``Local/1001@agents`` -> ``1001``), or ""."""
    for d in reversed(rec.get("dials") or []):
        m = AGENT.match(d.get("target", ""))
        if d.get("status") == "ANSWER" and m:
            return m.group(1)
    return ""


def engine_story(events: list[dict]) -> dict[str, dict]:
    """call id -> {"start": first start line, "end": last call.end line, "lines": [...]}."""
    calls: dict[str, dict] = {}
    for e in events:
        uid = e.get("call_id")
        if not uid or not str(e.get("event", "")).startswith(("call.", "acd.", "flow.", "callback.")):
            continue
        c = calls.setdefault(uid, {"start": None, "end": None, "ends": 0, "lines": []})
        c["lines"].append(e)
        if e["event"] in ("call.start", "call.taken_up") and c["start"] is None:
            c["start"] = e
        elif e["event"] == "call.end":
            c["end"], c["ends"] = e, c["ends"] + 1
    return calls


def brief(e: dict) -> str:
    skip = {"event", "timestamp", "level", "logger", "call_id", "node"}
    rest = " ".join(f"{k}={v}" for k, v in e.items() if k not in skip and v not in (None, ""))
    return f"{e.get('timestamp', '')[11:23]} {e.get('event')} {rest}"[:220]


def tally(run: dict) -> dict:
    pbx = {r["call_id"]: r for r in run["pbx_records"] if _inbound(r, run["dids"])}
    for r in run["killed"]:                       # up when the PBX was killed: ended by the crash
        if r["call_id"] not in pbx and _inbound(r, run["dids"]):
            pbx[r["call_id"]] = dict(r, end=r["_killed_at"], hangup_by="pbx-killed")
    stuck_live = {r["call_id"]: r for r in run["live_at_deadline"]}
    eng = engine_story(run["engine_events"])
    problems: list[dict] = []

    def problem(kind: str, uid: str, detail: str) -> None:
        lines = [brief(e) for e in eng.get(uid, {}).get("lines", [])][-14:]
        rec = pbx.get(uid) or stuck_live.get(uid)
        problems.append({"kind": kind, "call_id": uid, "detail": detail, "pbx": _pbx_brief(rec), "engine": lines})

    ended, reasons, unrecorded = Counter(), Counter(), []
    for uid, rec in pbx.items():
        story = eng.get(uid)
        end = story["end"] if story else None
        if uid in stuck_live or uid in run["held_at_deadline"]:
            continue                                   # counted as stuck below
        if end is None:
            if story is None and rec.get("hangup_by") == "pbx-killed":
                ended["killed_before_the_engine_saw_it"] += 1
                continue
            unrecorded.append(uid)                     # stuck: the call ended with no engine record
            continue
        ended[end.get("outcome") or "?"] += 1
        reasons[f"{end.get('outcome')}: {_reason(end.get('reason'))}"] += 1
        if end.get("outcome") == "failed":
            problem("failed", uid, f"engine: failed ({end.get('reason')})")
        if rec.get("hangup_by") == "pbx-killed" and "pbx lost" not in str(end.get("reason")):
            problem("end_reason", uid, f"the PBX died with the call up; engine: {end.get('outcome')} "
                                       f"({end.get('reason')}), not 'pbx lost'")
        _compare(uid, rec, end, run, problem)
    for uid, letters in run["acd_out"].items():      # the statistics' answered calls, the other way round
        rec = pbx.get(uid) or {}
        if rec.get("hangup_by") == "pbx-killed" and _ringing(rec):
            continue                                    # answered or not in the instant before the kill
        if "A" in letters and uid not in stuck_live and not pbx_agent(rec):
            problem("acd_statistics", uid, "counted answered in the statistics; " +
                    ("the PBX saw no agent answer" if uid in pbx else "the PBX never carried such a call"))
    callbacks = Counter((s["end"] or {}).get("outcome", "open") for uid, s in eng.items()
                        if uid not in pbx and s["start"] is not None and not _is_inbound_start(s["start"], run["dids"]))

    stuck = sorted(set(stuck_live) | set(run["held_at_deadline"]) | set(unrecorded))
    for uid in stuck:
        where = []
        if uid in stuck_live:
            r = stuck_live[uid]
            where.append(f"PBX channel up ({r.get('_application')} in {r.get('_context')})")
        if uid in run["held_at_deadline"]:
            where.append("the engine still holds it")
        if uid in unrecorded:
            where.append("the PBX carried it to its end; the engine logged no end for it")
        problem("stuck", uid, "; ".join(where))
    for uid in run["acd_pending_inbound"]:
        if uid not in stuck:
            call = run["acd_calls"].get(uid, {})
            problem("acd_vs_engine", uid, f"the call is over; the ACD still has it {call.get('state')} "
                                          f"(agent {call.get('agent_id') or '-'}, offers taken back {call.get('reaped')})")

    wrong = _agents_wrong(run["agents"], run["quiet_at"])
    double = _double_booked(run["pbx_records"] + run["killed"])
    for d in double:
        problem("agent_double_booked", d["calls"][1], f"agent {d['agent']} answered it while still on "
                                                      f"{d['calls'][0]} ({d['overlap_s']} s together)")
    silences = sorted(((r.get("max_silence_s") or 0.0, uid) for uid, r in {**pbx, **stuck_live}.items()), reverse=True)
    disagree = sorted({p["call_id"] for p in problems if p["kind"] not in NOT_DISAGREEING})
    figures = {
        "offered": run["offered"],
        "pbx_inbound_calls": len(pbx) + len(set(stuck_live) - set(pbx)),
        "ended": dict(sorted(ended.items())),
        "ended_by_reason": dict(reasons.most_common()),
        "answered_by_witness": {
            "pbx_agent_answered": sum(1 for r in pbx.values() if pbx_agent(r)),
            "engine_answered": ended.get("answered", 0),
            "acd_statistics_answered": _acd_answered(run["acd_status"]),
        },
        "stuck": len(stuck),
        "disagreeing": len(disagree),
        "agents_wrong": len(wrong),
        "agents_double_booked": len(double),
        "max_silence_s": round(silences[0][0], 2) if silences else 0.0,
        "silence_over_5s": sum(1 for s, _ in silences if s > 5),
        "silence_over_15s": sum(1 for s, _ in silences if s > 15),
        "longest_silences": [{"call_id": uid, "seconds": round(s, 2), "engine": _end_word(eng.get(uid)),
                              "during": run["fault_at"]((pbx.get(uid) or stuck_live.get(uid) or {}).get("max_silence_at"),
                                                        s / run["speed"])}
                             for s, uid in silences[:8]],
        "callback_calls": dict(sorted(callbacks.items())),
        "callback_tasks": run["callback_tasks"],
        "callback_tasks_failed": [{"task": c["call_id"], "attempts": c.get("attempts"), "reason": c.get("reason")}
                                  for c in run["acd_calls"].values()
                                  if c.get("kind") == "callback" and c.get("state") == "failed"],
        "problem_kinds": dict(Counter(p["kind"] for p in problems)),
    }
    return {"figures": figures, "problems": problems, "agents_wrong": wrong}


def _compare(uid: str, rec: dict, end: dict, run: dict, problem) -> None:
    """Whether a person answered, and who, by the PBX, the engine, the ACD's call, stats and record."""
    who = pbx_agent(rec)
    outcome, agent = end.get("outcome"), end.get("agent") or ""
    if rec.get("hangup_by") == "pbx-killed" and _ringing(rec) and outcome == "answered":
        who = agent       # the agent's phone rang when the PBX was listed, an instant before the kill:
                          # an answer in that instant is the PBX's word against nobody's
    if bool(who) != (outcome == "answered"):
        problem("engine_vs_pbx", uid, f"PBX: {'agent ' + who + ' answered' if who else 'no agent answered'}; "
                                      f"engine: {outcome} ({end.get('reason')})")
    elif who and agent != who:
        problem("engine_vs_pbx", uid, f"PBX: agent {who} answered; engine names agent {agent or 'none'}")
    call = run["acd_calls"].get(uid)
    if call is not None and call.get("kind", "call") == "call":
        acd_who = call.get("agent_id") if call.get("answered_at") else ""
        if bool(acd_who) != bool(who) or (who and acd_who != who):
            problem("acd_call_vs_pbx", uid, f"PBX: {who or 'no agent'}; ACD call {call.get('state')} "
                                            f"agent={call.get('agent_id') or '-'} answered_at={call.get('answered_at')}")
        letters = run["acd_out"].get(uid, [])
        if call.get("state") in ("ended", "abandoned", "connected") and len(letters) != 1:
            problem("acd_statistics", uid, f"outcome counted {len(letters)} times in the statistics: {letters}")
        elif letters and (letters[0] == "A") != bool(who):
            problem("acd_statistics", uid, f"PBX: {who or 'no agent'}; statistics count it {letters[0]}")
    record = run["acd_records"].get(uid)
    if record is not None:
        talked = bool((record.get("outcome") or {}).get("talked")) if isinstance(record.get("outcome"), dict) \
            else record.get("outcome") == "answered"
        if talked != bool(who) or (who and (record.get("agent") or record.get("agent_id") or "") != who):
            problem("acd_record_vs_pbx", uid, f"PBX: {who or 'no agent'}; exported record talked={talked} "
                                              f"agent={record.get('agent') or record.get('agent_id') or '-'}")


def _ringing(rec: dict) -> bool:
    dials = rec.get("dials") or []
    return bool(dials) and not dials[-1].get("status")


def _agents_wrong(agents: list[dict], now: float) -> list[dict]:
    out = []
    for a in agents:
        state, why = a.get("state"), ""
        if state in ("ringing", "talking"):
            why = f"{state} with no call on the PBX (call {a.get('call_id') or '-'})"
        elif state == "wrapup" and a.get("wrap_until", 0) < now - 5:
            why = f"wrap-up ended {now - a.get('wrap_until', 0):.0f} s ago"
        elif state == "logged_out":
            why = "logged out (every agent was logged in)"
        elif state == "paused" and "no answer" in (a.get("reason") or ""):
            why = "paused 'no answer' (the PBX's agents always answer)"
        if why:
            out.append({"agent": a.get("id"), "state": state, "reason": a.get("reason"), "why": why,
                        "call_id": a.get("call_id"), "pending": a.get("pending")})
    return out


def _double_booked(records: list[dict]) -> list[dict]:
    """An agent's phone in two conversations at once, by the PBX: inbound dials it answered and
    the callbacks that rang it (the originate's agent leg), answer to end."""
    spans: dict[str, list] = {}
    for r in records:
        end = r.get("end") or r.get("_killed_at")
        m = AGENT_LEG.match(r.get("channel") or "")
        if m and r.get("answered") and end:
            spans.setdefault(m.group(1), []).append((r["answered"], end, r["call_id"]))
        for d in r.get("dials") or []:
            m = AGENT.match(d.get("target", ""))
            if m and d.get("status") == "ANSWER" and d.get("answered"):
                spans.setdefault(m.group(1), []).append((d["answered"], d.get("end") or end or d["answered"], r["call_id"]))
    out = []
    for agent, items in spans.items():
        items.sort()
        for (s1, e1, c1), (s2, e2, c2) in zip(items, items[1:]):
            if s2 < e1 - 0.5:
                out.append({"agent": agent, "calls": [c1, c2], "overlap_s": round(min(e1, e2) - s2, 1)})
    return out


def _acd_answered(status: dict) -> int | None:
    queues = status.get("queues") if isinstance(status, dict) else None
    if isinstance(queues, dict):
        queues = list(queues.values())
    if not isinstance(queues, list):
        return None
    return sum(int(q.get("answered") or 0) for q in queues if isinstance(q, dict))


def _inbound(rec: dict, dids) -> bool:
    channel = rec.get("channel") or ""
    return any(channel.startswith(f"Local/{d}@hotline-in-") for d in dids)


def _is_inbound_start(start: dict, dids) -> bool:
    return str(start.get("dialled") or "") in dids


def _reason(text) -> str:
    """A reason without what differs from call to call (ports, channel names), for counting."""
    text = re.sub(r"127\.0\.0\.1:\d+", "PBX", str(text or "-"))
    return re.sub(r"Local/\S+", "Local/…", text)[:110]


def _end_word(story: dict | None) -> str:
    if not story or not story["end"]:
        return "no end"
    e = story["end"]
    return f"{e.get('outcome')}: {e.get('reason')}"


def _pbx_brief(rec: dict | None) -> str:
    if not rec:
        return "no PBX record"
    dials = ",".join(f"{d.get('target', '').split('@')[0].replace('Local/', '')}:{d.get('status') or 'ringing'}"
                     for d in rec.get("dials") or [])
    return (f"hangup_by={rec.get('hangup_by') or '-'} dials=[{dials}] digits={rec.get('digits') or '-'} "
            f"agi_sessions={rec.get('agi_sessions')} max_silence_s={rec.get('max_silence_s')}")
