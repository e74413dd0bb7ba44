"""``acd report`` over a crafted month edge: every figure checked against numbers worked out by hand.

Days: Sat 2026-10-31 and Sun 11-01 are ISO week 44, Mon 11-02 is week 45; the
first day is October, the others November, so weeks and months group them
differently.  Two centers: changchun (queue changchun, agent 1101) and
yanbian (queue yanbian, agent 1301), as in config/acd.yaml.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json

import openpyxl
import pytest
from rich.cells import cell_len

from acd import config as config_mod
from acd.db import report, report_cli
from acd.db.connect import DbError
from acd.db.upsert import write

CHINA = dt.timezone(dt.timedelta(hours=8))
LO, HI = "2026-10-31", "2026-11-03"


def at(day: str, clock: str) -> float:
    return dt.datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=CHINA).timestamp()


def call(cid, center, start, *, outcome="answered", ivr=1.0, queue_in=None, person_in=None, end_in=60.0,
         talk=0.0, wrapup=0.0, kind="inbound", **extra):
    """A whole calls row (upsert takes the columns of a batch's first row) with times relative to the start."""
    t = start
    row = {"call_id": cid, "kind": kind, "started_at": t, "answered_at": t + ivr,
           "queued_at": None if queue_in is None else t + queue_in,
           "agent_answered_at": None if person_in is None else t + person_in, "ended_at": t + end_in,
           "center": center, "queue": center if queue_in is not None else "", "outcome": outcome,
           "abandoned_in": ("queue" if queue_in is not None else "ivr") if outcome == "abandoned" else "",
           "wait_s": None if person_in is None else person_in - queue_in,
           "to_person_s": None if person_in is None else person_in - ivr,
           "talk_s": talk, "wrapup_s": wrapup, "written_at": t,
           "transfers": 0, "transfer_to": "", "out_of_remit": False, **extra}
    return {"k": "call", "r": row}


CALLS = [
    # 10-31: wait 8 (within 15 s) but 17 s from the IVR answer (misses GB/T's 15 s)
    call("c1", "changchun", at("2026-10-31", "09:00:00"), queue_in=10, person_in=18, talk=100, wrapup=10),
    call("c2", "changchun", at("2026-10-31", "09:10:00"), queue_in=10, person_in=40, talk=200, wrapup=20,
         transfers=1, transfer_to="12315"),
    call("c3", "changchun", at("2026-10-31", "10:00:00"), outcome="abandoned", queue_in=10, end_in=13),   # short
    call("c4", "changchun", at("2026-10-31", "10:30:00"), outcome="abandoned", queue_in=10, end_in=70),
    call("c5", "changchun", at("2026-10-31", "11:00:00"), outcome="abandoned", end_in=20),                # IVR
    call("c6", "yanbian", at("2026-10-31", "09:05:00"), queue_in=5, person_in=10, talk=50, wrapup=10),
    call("c7", "yanbian", at("2026-10-31", "12:00:00"), outcome="completed", out_of_remit=True),
    # 11-01
    call("c8", "changchun", at("2026-11-01", "08:00:00"), queue_in=5, person_in=17, talk=300, wrapup=30),
    call("c9", "yanbian", at("2026-11-01", "23:59:50"), queue_in=5, person_in=9, talk=60, end_in=75),
    call("c10", "changchun", at("2026-11-01", "20:00:00"), outcome="failed", queue_in=5, end_in=40),
    # 11-02: gone exactly 5 s after joining: not short (short means less than 5 s)
    call("c11", "yanbian", at("2026-11-02", "10:00:00"), outcome="abandoned", queue_in=10, end_in=15),
    call("c12", "changchun", at("2026-11-02", "10:00:00"), kind="callback", queue_in=1, person_in=3),   # not offered
    call("c13", "changchun", at("2026-11-03", "00:00:00"), queue_in=1, person_in=3),                   # at --to
    call("c14", "changchun", at("2026-10-30", "23:59:59"), queue_in=1, person_in=3),                   # before
]

SURVEYS = [{"k": "survey", "r": {"call_id": cid, "at": t, "center": c, "queue": c, "grade": g}} for cid, t, c, g in [
    ("c1", at("2026-10-31", "09:03:00"), "changchun", 5),
    ("c2", at("2026-10-31", "09:15:00"), "changchun", None),          # hung up: not rated, not unhappy
    ("c6", at("2026-10-31", "09:07:00"), "yanbian", 2),
    ("c8", at("2026-11-01", "08:06:00"), "changchun", 3),
    ("c9", at("2026-11-02", "00:01:05"), "yanbian", 4),               # by survey time: 11-02
]]

CALLBACKS = [{"k": "callback", "r": {"callback_id": cb, "missed_call_id": m, "queue": "changchun", "created_at": t,
                                     "deadline_at": t + 1800, "outcome": o, "ended_at": None if e is None else t + e}}
             for cb, m, t, o, e in [
                 ("b1", "c4", at("2026-10-31", "10:31:10"), "answered", 600),     # in time
                 ("b2", "c5", at("2026-10-31", "11:00:20"), "answered", 2000),    # reached, too late
                 ("b3", "c10", at("2026-11-01", "20:00:40"), "", None)]]          # pending

STATES = [{"k": "agent_state", "r": {"event_id": f"e{i}", "agent_id": a, "state": s, "at": at(d, t)}}
          for i, (a, d, t, s) in enumerate([
              ("1101", "2026-10-30", "23:00:00", "available"),    # already available when the range starts
              ("1101", "2026-10-31", "09:00:05", "ringing"),
              ("1101", "2026-10-31", "09:00:18", "talking"),
              ("1101", "2026-10-31", "09:01:58", "wrapup"),
              ("1101", "2026-10-31", "09:02:08", "available"),
              ("1101", "2026-10-31", "10:00:00", "paused"),
              ("1101", "2026-10-31", "10:30:00", "available"),
              ("1101", "2026-10-31", "12:00:00", "logged_out"),
              ("1101", "2026-11-03", "08:00:00", "available"),    # after the range
              ("1301", "2026-10-31", "23:00:00", "available"),    # across midnight
              ("1301", "2026-11-01", "00:50:00", "talking"),      # across an hour
              ("1301", "2026-11-01", "01:10:00", "wrapup"),
              ("1301", "2026-11-01", "01:12:00", "logged_out")])]


@pytest.fixture
def cfg():
    return config_mod.load("config/acd.yaml")


@pytest.fixture
async def loaded(db):
    async with db.begin() as conn:
        await write(conn, CALLS + SURVEYS + CALLBACKS + STATES)
    return db


def parser():
    p = argparse.ArgumentParser(prog="acd")
    report_cli.add_parser(p.add_subparsers(dest="command"))
    return p


def args(*argv):
    return parser().parse_args(["report", *argv])


async def build(engine, cfg, by="day", lo=LO, hi=HI, **kw):
    return await report.build(engine, cfg, report_cli.parse_when(lo, "--from"), report_cli.parse_when(hi, "--to"),
                              by=by, **kw)


async def test_daily_figures(loaded, cfg):
    rep = await build(loaded, cfg)
    days = dict(rep.buckets)
    assert list(days) == ["2026-10-31", "2026-11-01", "2026-11-02"]
    a, b, c = days["2026-10-31"], days["2026-11-01"], days["2026-11-02"]
    assert (a["offered"], a["answered"], a["answered_sl"], a["sl_share"]) == (7, 3, 2, 0.6667)
    assert (a["queued"], a["connection_rate"]) == (5, 0.75)                      # 3 / (5 - 1 short)
    assert (a["abandoned"], a["abandoned_short"], a["abandoned_other"]) == (3, 1, 2)
    assert (a["abandoned_ivr"], a["abandoned_queue"]) == (1, 2)
    assert (a["asa_s"], a["aht_s"], a["talk_s"], a["wrapup_s"]) == (14.3, 130.0, 116.7, 13.3)
    assert (a["transfers"], a["transfer:12315"], a["out_of_remit"]) == (1, 1, 1)
    assert (a["callbacks"], a["callbacks_in_time"]) == (2, 1)
    assert (a["rated"], a["not_rated"], a["grade_5"], a["grade_2"], a["satisfaction"]) == (2, 1, 1, 1, 0.5)
    assert (b["offered"], b["answered"], b["sl_share"], b["connection_rate"]) == (3, 2, 1.0, 0.6667)
    assert (b["asa_s"], b["aht_s"], b["abandoned"], b["callbacks"], b["callbacks_in_time"]) == (8.0, 195.0, 0, 1, 0)
    assert (b["rated"], b["grade_3"], b["satisfaction"]) == (1, 1, 1.0)
    assert (c["offered"], c["answered"], c["asa_s"], c["sl_share"], c["connection_rate"]) == (1, 0, None, None, 0.0)
    assert (c["abandoned_short"], c["abandoned_other"], c["rated"], c["grade_4"]) == (0, 1, 1, 1)
    t = rep.total
    assert (t["offered"], t["answered"], t["queued"], t["connection_rate"]) == (11, 5, 9, 0.625)
    assert (t["asa_s"], t["aht_s"], t["rated"], t["not_rated"], t["satisfaction"]) == (11.8, 156.0, 4, 1, 0.75)


async def test_short_abandon_threshold_moves_the_split(loaded, cfg):
    cfg.records.short_abandon_s = 6           # now c11 (gone after exactly 5 s) is short too
    day = dict((await build(loaded, cfg)).buckets)["2026-11-02"]
    assert (day["abandoned_short"], day["abandoned_other"], day["connection_rate"]) == (1, 0, None)
    cfg.records.short_abandon_s = 3           # and c3 (3 s) is not
    day = dict((await build(loaded, cfg)).buckets)["2026-10-31"]
    assert (day["abandoned_short"], day["connection_rate"]) == (0, 0.6)


async def test_not_rated_never_counts_as_unhappy(db, cfg):
    async with db.begin() as conn:
        await write(conn, [call("x1", "jilin", at("2026-10-31", "09:00:00"), queue_in=1, person_in=2)] + [
            {"k": "survey", "r": {"call_id": f"s{i}", "at": at("2026-10-31", "10:00:00") + i, "center": "jilin",
                                  "grade": g}} for i, g in enumerate([4, None, None, None, 1])])
    t = (await build(db, cfg)).total
    assert (t["rated"], t["not_rated"], t["grade_4"], t["grade_1"], t["satisfaction"]) == (2, 3, 1, 1, 0.5)


async def test_occupancy_from_agent_states(loaded, cfg):
    days = dict((await build(loaded, cfg)).buckets)
    assert days["2026-10-31"]["occupancy"] == round(123 / 45000, 4)   # 1101: 123 busy of 41400; 1301: 3600 idle
    assert days["2026-11-01"]["occupancy"] == round(1320 / 4320, 4)
    assert days["2026-11-02"]["occupancy"] is None                      # nobody staffed
    hours = dict((await build(loaded, cfg, by="hour", lo="2026-10-31T08:00", hi="2026-10-31T11:00")).buckets)
    assert [hours[f"2026-10-31 {h}:00"]["occupancy"] for h in ("08", "09", "10")] == [0.0, round(123 / 3600, 4), 0.0]
    night = dict((await build(loaded, cfg, by="hour", lo="2026-11-01T00:00", hi="2026-11-01T02:00",
                              center="yanbian")).buckets)
    assert (night["2026-11-01 00:00"]["occupancy"], night["2026-11-01 01:00"]["occupancy"]) == (round(600 / 3600, 4), 1.0)
    cc = dict((await build(loaded, cfg, center="changchun")).buckets)
    assert cc["2026-10-31"]["occupancy"] == round(123 / 41400, 4) and cc["2026-10-31"]["offered"] == 5


async def test_week_and_month_roll_up(loaded, cfg):
    weeks = dict((await build(loaded, cfg, by="week")).buckets)
    assert list(weeks) == ["2026-W44", "2026-W45"]
    w44 = weeks["2026-W44"]
    assert (w44["offered"], w44["answered"], w44["connection_rate"], w44["asa_s"]) == (10, 5, round(5 / 7, 4), 11.8)
    assert w44["occupancy"] == round(1443 / 49320, 4)
    months = dict((await build(loaded, cfg, by="month")).buckets)
    assert list(months) == ["2026-10", "2026-11"]
    assert (months["2026-10"]["offered"], months["2026-11"]["offered"], months["2026-11"]["connection_rate"]) == (7, 4, 0.5)
    assert (months["2026-11"]["rated"], months["2026-11"]["callbacks"]) == (2, 1)


async def test_gbt_summary_flags(loaded, cfg):
    rows = {(r["center"], r["day"]): r for r in (await build(loaded, cfg)).gbt}
    assert list(rows) == [("changchun", "2026-10-31"), ("changchun", "2026-11-01"),
                          ("yanbian", "2026-10-31"), ("yanbian", "2026-11-01"), ("yanbian", "2026-11-02")]
    r = rows[("changchun", "2026-10-31")]
    assert (r["offered"], r["answered"], r["within_15s"], r["share_15s"], r["connection_rate"]) == (5, 2, 0, 0.0, 0.6667)
    assert r["flagged"] and r["misses"] == ["15 s", "接通率"]
    assert rows[("yanbian", "2026-10-31")]["flagged"] is False
    assert (rows[("changchun", "2026-11-01")]["share_15s"], rows[("changchun", "2026-11-01")]["connection_rate"]) == (0.0, 0.5)
    assert rows[("yanbian", "2026-11-02")]["misses"] == ["接通率"]      # nobody answered: the share is not judged
    out = report_cli.render_gbt(await build(loaded, cfg), cfg, width=80)
    assert "15 s, 接通率" in out and "3 of 5 center-days flagged" in out
    assert max(cell_len(line) for line in out.splitlines()) <= 80


async def test_unknown_names_and_bad_flags_refused(loaded, cfg):
    for argv, words in [(["--from", LO, "--center", "harbin"], "--center 'harbin': unknown center (known: province"),
                        (["--from", LO, "--queue", "nope"], "--queue 'nope': unknown queue (known: province"),
                        (["--from", "yesterday"], "--from 'yesterday'"),
                        (["--from", HI, "--to", LO], "is not before --to"),
                        (["--from", LO, "--format", "xlsx"], "--format xlsx needs --out"),
                        (["--from", LO, "--chart", "x.pdf"], "--chart x.pdf")]:
        with pytest.raises(DbError, match=None) as err:
            await report_cli.run(args(*argv), cfg, loaded)
        assert words in str(err.value) and "\n" not in str(err.value)


async def test_empty_range_says_so(loaded, cfg, capsys):
    assert await report_cli.run(args("--from", "2025-01-01", "--to", "2025-02-01"), cfg, loaded) == 0
    assert capsys.readouterr().out == "no records between 2025-01-01 00:00 and 2025-02-01 00:00 (China time)\n"


async def test_table_fits_80_columns_with_definitions(loaded, cfg):
    text = report_cli.render(await build(loaded, cfg), width=80)
    assert max(cell_len(line) for line in text.splitlines()) <= 80
    assert "接通率" in text and "2026-11-02" in text and "total" in text and "to 12315" in text
    flat = " ".join(text.split())
    assert "Definitions" in flat and "minus short abandons" in flat and "never counted as unhappy" in flat


async def test_csv_and_json(loaded, cfg, tmp_path, capsys):
    assert await report_cli.run(args("--from", LO, "--to", HI, "--format", "csv"), cfg, loaded) == 0
    lines = capsys.readouterr().out.splitlines()
    head = lines[0].split(",")
    assert head[:3] == ["bucket", "offered", "answered"] and lines[-1].startswith("total,11,5,")
    out = tmp_path / "r.json"
    assert await report_cli.run(args("--from", LO, "--to", HI, "--format", "json", "--out", str(out)), cfg, loaded) == 0
    data = json.loads(out.read_text(encoding="utf-8"))
    assert data["total"]["connection_rate"] == 0.625 and data["from"] == "2026-10-31T00:00:00+08:00"
    assert "short abandons" in data["definitions"]["connection_rate"] and len(data["buckets"]) == 3
    assert await report_cli.run(args("--from", LO, "--to", HI, "--format", "json", "--gbt"), cfg, loaded) == 0
    gbt = json.loads(capsys.readouterr().out)
    assert gbt["targets"] == {"share_15s": 0.8, "connection_rate": 0.95} and len(gbt["gbt"]) == 5


async def test_xlsx_reads_back(loaded, cfg, tmp_path):
    out = tmp_path / "r.xlsx"
    assert await report_cli.run(args("--from", LO, "--to", HI, "--format", "xlsx", "--out", str(out)), cfg, loaded) == 0
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["Figures", "Definitions", "GBT 33358"]
    rows = list(wb["Figures"].values)
    table = {r[0]: dict(zip(rows[0], r)) for r in rows[1:]}
    assert table["2026-10-31"]["offered"] == 7 and table["2026-10-31"]["connection_rate"] == 0.75
    assert table["total"]["answered"] == 5 and table["2026-11-02"]["asa_s"] is None
    defs = {r[0]: r[2] for r in wb["Definitions"].values}
    assert "not counted" in defs["offered"] and "gbt.share_15s" in defs
    gbt = list(wb["GBT 33358"].values)
    assert gbt[1][:8] == ("changchun", "2026-10-31", 5, 2, 0, 0, 0.6667, True)


@pytest.mark.parametrize("suffix, magic", [(".png", b"\x89PNG\r\n\x1a\n"), (".svg", b"<svg")])
async def test_chart_written(loaded, cfg, tmp_path, capsys, recwarn, suffix, magic):
    path = tmp_path / f"days{suffix}"
    assert await report_cli.run(args("--from", LO, "--to", HI, "--chart", str(path)), cfg, loaded) == 0
    data = path.read_bytes()
    assert data.startswith(magic) if suffix == ".png" else magic in data[:2000]
    assert not [w for w in recwarn if "missing from" in str(w.message) or "Glyph" in str(w.message)]
    assert "total" in capsys.readouterr().out


def test_acd_report_command(db_url, tmp_path, capsys):
    """The whole path: acd's parser, --db, the caller's checks, run(); a sync test because main runs its own loop."""
    import asyncio

    from acd import cli
    from acd.db.connect import open_engine
    from acd.db.migrate import upgrade

    async def load():
        engine = open_engine(db_url)
        try:
            await upgrade(engine)
            async with engine.begin() as conn:
                await write(conn, CALLS + SURVEYS + CALLBACKS + STATES)
        finally:
            await engine.dispose()

    asyncio.run(load())
    out = tmp_path / "r.csv"
    assert cli.main(["--db", db_url, "report", "--from", LO, "--to", HI, "--by", "month", "--format", "csv",
                     "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8").splitlines()[1].startswith("2026-10,7,3,")
    assert cli.main(["--db", db_url, "report", "--from", LO, "--to", HI, "--gbt", "--center", "yanbian"]) == 0
    assert "1 of 3 center-days flagged" in capsys.readouterr().out
    assert cli.main(["--db", db_url, "report", "--from", LO, "--center", "harbin"]) == 2
    assert capsys.readouterr().err.startswith("acd report: --center 'harbin': unknown center")
