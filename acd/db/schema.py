"""The tables of the records database.

Times are epoch seconds (double precision): the engine and ACD clocks already
speak them, they compare the same way on PostgreSQL and SQLite, and reports turn
them into China time at the edge.  Every table has a natural key (call id,
event id, callback id) so a replayed spool or two nodes writing the same row
update it instead of adding a second one.
"""

from __future__ import annotations

from sqlalchemy import (
    Boolean, Column, Float, Index, Integer, MetaData, SmallInteger, String, Table, Text, UniqueConstraint,
)

metadata = MetaData(naming_convention={
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
})

#: One row per call, written when the call ends; later writes for the same call replace it.
calls = Table(
    "calls", metadata,
    Column("call_id", String(80), primary_key=True),
    Column("kind", String(16), nullable=False, server_default="inbound"),   # inbound | callback
    Column("started_at", Float, nullable=False),      # the channel reached the engine
    Column("answered_at", Float),                     # the IVR answered
    Column("queued_at", Float),                       # entered an ACD queue
    Column("agent_answered_at", Float),               # a person picked up
    Column("ended_at", Float),
    Column("dialled", String(32), nullable=False, server_default=""),
    Column("caller", String(32), nullable=False, server_default=""),     # whole: masked on the way out
    Column("center", String(32), nullable=False, server_default=""),
    Column("queue", String(32), nullable=False, server_default=""),
    Column("agent_id", String(64), nullable=False, server_default=""),
    Column("flow", String(64), nullable=False, server_default=""),
    Column("flow_version", String(64), nullable=False, server_default=""),
    Column("flow_path", Text, nullable=False, server_default=""),         # flow:node>flow:node ...
    Column("keys", String(128), nullable=False, server_default=""),       # digits the caller pressed
    Column("outcome", String(24), nullable=False, server_default=""),
    Column("reason", Text, nullable=False, server_default=""),
    Column("abandoned_in", String(8), nullable=False, server_default=""),  # ivr | queue | ""
    Column("out_of_remit", Boolean, nullable=False, server_default="0"),
    Column("wait_s", Float),                          # queue entry to a person (speed of answer)
    Column("to_person_s", Float),                     # IVR answer to a person (GB/T 33358's 15 s)
    Column("talk_s", Float, nullable=False, server_default="0"),
    Column("wrapup_s", Float, nullable=False, server_default="0"),
    Column("transfers", Integer, nullable=False, server_default="0"),
    Column("transfer_to", String(64), nullable=False, server_default=""),
    Column("recording_path", Text, nullable=False, server_default=""),
    Column("recording_s", Float, nullable=False, server_default="0"),
    Column("disposition", String(32), nullable=False, server_default=""),
    Column("survey_grade", SmallInteger),             # 5 非常满意 ... 1 非常不满意; NULL: not rated
    Column("callback_of", String(80), nullable=False, server_default=""),
    Column("node", String(128), nullable=False, server_default=""),
    Column("written_at", Float, nullable=False),
    Index(None, "started_at"),
    Index(None, "center", "started_at"),
    Index(None, "queue", "started_at"),
    Index(None, "agent_id", "started_at"),
)

#: Each attempt to put the call through: agents rung, transfers dialled.
call_legs = Table(
    "call_legs", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("call_id", String(80), nullable=False),
    Column("seq", Integer, nullable=False),
    Column("kind", String(16), nullable=False),       # agent | transfer
    Column("target", String(80), nullable=False, server_default=""),
    Column("status", String(24), nullable=False, server_default=""),
    Column("at", Float),
    # a transfer: how, who asked, when they asked, when it was settled (answered there, failed...)
    Column("transfer_kind", String(16), nullable=False, server_default=""),   # blind | ""
    Column("by_agent", String(64), nullable=False, server_default=""),
    Column("requested_at", Float),
    Column("settled_at", Float),
    UniqueConstraint("call_id", "seq"),
)

#: Every change of an agent's state, by the node that made it.
agent_states = Table(
    "agent_states", metadata,
    Column("event_id", String(64), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("state", String(16), nullable=False),      # logged_out available paused ringing talking wrapup
    Column("reason", String(64), nullable=False, server_default=""),
    Column("call_id", String(80), nullable=False, server_default=""),
    Column("at", Float, nullable=False),
    # When the agent's next state began (NULL: still in it): the writer fills it in as events
    # arrive, in any order, so reports sum durations instead of pairing events up.
    Column("until", Float),
    Column("node", String(128), nullable=False, server_default=""),
    # Each agent's day in order, read from the index alone (reports' occupancy).
    Index(None, "agent_id", "at", "event_id", "state"),
    Index(None, "at"),
)

#: A missed caller rung back: when it was promised, by when, how it went.
callbacks = Table(
    "callbacks", metadata,
    Column("callback_id", String(80), primary_key=True),
    Column("missed_call_id", String(80), nullable=False, server_default=""),
    Column("caller", String(32), nullable=False, server_default=""),
    Column("queue", String(32), nullable=False, server_default=""),
    Column("created_at", Float, nullable=False),
    Column("deadline_at", Float),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("outcome", String(24), nullable=False, server_default=""),   # "" while pending
    Column("ended_at", Float),
    Index(None, "created_at"),
)

#: 好差评: one row per call that reached the survey, rated or not.
surveys = Table(
    "surveys", metadata,
    Column("call_id", String(80), primary_key=True),
    Column("at", Float, nullable=False),
    Column("center", String(32), nullable=False, server_default=""),
    Column("queue", String(32), nullable=False, server_default=""),
    Column("agent_id", String(64), nullable=False, server_default=""),
    Column("grade", SmallInteger),                    # NULL: the caller left without rating
    Column("label", String(16), nullable=False, server_default=""),
    Index(None, "at"),
)

#: Who read what in full, and what changed the records (谁管理、谁使用、谁负责).
audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("user", String(64), nullable=False),
    Column("role", String(32), nullable=False, server_default=""),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False, server_default=""),
    # Set by rows that come through the spool (a supervisor's forced pause): replaying it adds no
    # second row.  NULL for rows written directly (exports, sweeps).
    Column("event_id", String(64)),
    Index(None, "at"),
    Index(None, "event_id", unique=True),
)

#: What the call was about, said by the agent who handled it (acd/wrapup.py), one row per call.
#: A table of its own, not columns of ``calls``: the disposition often arrives before the engine
#: writes the call's record, and that write replaces the whole ``calls`` row.  A second
#: disposition of the same call replaces the first.
dispositions = Table(
    "dispositions", metadata,
    Column("call_id", String(80), primary_key=True),
    Column("agent_id", String(64), nullable=False),
    Column("category", String(16), nullable=False),     # 咨询 求助 投诉 举报 意见建议
    Column("out_of_remit", String(16), nullable=False, server_default=""),   # 诉讼 ... 公序良俗, or ""
    Column("note", Text, nullable=False, server_default=""),                 # at most wrapup.NOTE_MAX
    Column("work_order", Boolean, nullable=False, server_default="0"),       # false: 接诉即答
    Column("at", Float, nullable=False),              # when it was (last) recorded
    Index(None, "at"),
)

#: Retention applies per table; the column says how old a row is.
AGE_COLUMN = {"calls": "started_at", "call_legs": None, "agent_states": "at", "callbacks": "created_at",
              "surveys": "at", "audit_log": "at", "dispositions": "at"}
