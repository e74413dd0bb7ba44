"""``acd report``: the records database's figures as a table, CSV, JSON, a workbook or a chart.

Supervisors read the table at a terminal of 80 columns, so figures are rows
and buckets are columns, split into as many tables as the width needs.  CSV,
JSON and the workbook use the figure keys as column names (stable for
scripts) and carry the definitions, so a number never travels without what it
counts.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import io
import json
import pathlib
import sys
import time

from acd.db import report
from acd.db.connect import DbError
from acd.when import CHINA, epoch

FORMATS = ("table", "csv", "json", "xlsx")
SHARES = {"sl_share", "connection_rate", "occupancy", "satisfaction", "share_15s"}
SECONDS = {"asa_s", "aht_s", "talk_s", "wrapup_s"}
GBT_COLUMNS = ("center", "day", "offered", "answered", "within_15s", "share_15s", "connection_rate", "flagged")
GBT_HEADERS = (("center", False), ("day", False), ("offered", True), ("answered", True), ("<=15 s", True),
               ("share", True), ("接通率", True), ("missed", False))


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="figures per hour/day/week/month from the records database (docs/reports.md)")
    p.add_argument("--from", dest="from_", required=True, metavar="WHEN",
                   help="start, included: a date (2026-11-01) or ISO date-time; China time unless a zone is given")
    p.add_argument("--to", dest="to", metavar="WHEN", help="end, excluded (default: now)")
    p.add_argument("--by", choices=report.BY, default="day", help="bucket (default: day; weeks start on Monday)")
    p.add_argument("--center", default="", help="one center only (default: the whole province)")
    p.add_argument("--queue", default="", help="one queue only")
    p.add_argument("--format", choices=FORMATS, default="table")
    p.add_argument("--out", metavar="FILE", help="write here instead of stdout (required for xlsx)")
    p.add_argument("--chart", metavar="FILE", help="also draw the daily figures: FILE.png or FILE.svg")
    p.add_argument("--gbt", action="store_true", help="the GB/T 33358 summary per center and day instead")


def parse_when(text: str, flag: str) -> float:
    when = epoch(text, ages=False)
    if when is None:
        raise DbError(f"{flag} {text!r}: expected a date (2026-11-01) or an ISO date-time "
                      "(2026-11-01T08:00), China time unless a zone is given")
    return when


def shown(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, CHINA).strftime("%Y-%m-%d %H:%M")


def check_flags(args, cfg) -> tuple[float, float]:
    """Every user mistake, refused before the database is asked anything."""
    from acd.config import CENTERS

    lo = parse_when(args.from_, "--from")
    hi = parse_when(args.to, "--to") if args.to else time.time()
    if lo >= hi:
        raise DbError(f"--from {args.from_} is not before --to {args.to or 'now'}")
    if args.center and args.center not in CENTERS:
        raise DbError(f"--center {args.center!r}: unknown center (known: {', '.join(CENTERS)})")
    if args.queue and args.queue not in cfg.queues:
        raise DbError(f"--queue {args.queue!r}: unknown queue (known: {', '.join(cfg.queues)})")
    if args.format == "xlsx" and not args.out:
        raise DbError("--format xlsx needs --out FILE.xlsx")
    for flag, path in (("--out", args.out), ("--chart", args.chart)):
        if path and not pathlib.Path(path).resolve().parent.is_dir():
            raise DbError(f"{flag} {path}: folder {pathlib.Path(path).resolve().parent} does not exist")
    if args.chart and pathlib.Path(args.chart).suffix.lower() not in (".png", ".svg"):
        raise DbError(f"--chart {args.chart}: the file must end in .png or .svg")
    return lo, hi


async def run(args: argparse.Namespace, cfg, engine) -> int:
    lo, hi = check_flags(args, cfg)
    rep = await report.build(engine, cfg, lo, hi, by=args.by, center=args.center, queue=args.queue)
    scope = "".join(f", {k} {v}" for k, v in (("center", args.center), ("queue", args.queue)) if v)
    if rep.empty:
        print(f"no records between {shown(lo)} and {shown(hi)} (China time){scope}")
        return 0
    if args.chart:
        _guard(args.chart, lambda: chart(rep, cfg, args.chart))
    if args.format == "xlsx":
        _guard(args.out, lambda: workbook(rep, cfg).save(args.out))
        print(f"report written to {args.out}", file=sys.stderr)
        return 0
    if args.format == "table":
        text = render_gbt(rep, cfg, scope) if args.gbt else render(rep, scope)
    elif args.format == "csv":
        text = to_csv(rep, gbt=args.gbt)
    else:
        text = json.dumps(to_json(rep, cfg, gbt=args.gbt), ensure_ascii=False, indent=1) + "\n"
    if args.out:
        _guard(args.out, lambda: pathlib.Path(args.out).write_text(text, encoding="utf-8"))
        print(f"report written to {args.out}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def _guard(path: str, write) -> None:
    try:
        write()
    except OSError as exc:
        raise DbError(f"{path}: {exc.strerror or exc}") from None


def cell(key: str, value) -> str:
    if value is None:
        return "-"
    if key in SHARES:
        return f"{value:.1%}"
    if key in SECONDS:
        return f"{value:.1f}"
    return "yes" if value is True else "" if value is False else str(value)


def row_label(rep: report.Report, key: str) -> str:
    return f"  to {key.split(':', 1)[1]}" if key.startswith("transfer:") else rep.labels.get(key, key)


def _console(width: int | None = None):
    from rich.console import Console

    return Console(file=io.StringIO(), width=width or _width(), no_color=True, highlight=False,
                   soft_wrap=False, emoji=False)


def _text(con) -> str:
    return "".join(line.rstrip() + "\n" for line in con.file.getvalue().splitlines())


def _width() -> int:
    from rich.console import Console

    return min(Console().width, 160)


def render(rep: report.Report, scope: str = "", width: int | None = None) -> str:
    """Figures as rows; as many bucket columns per table as fit, the total in the last one."""
    from rich import box
    from rich.cells import cell_len
    from rich.table import Table

    con = _console(width)
    keys = list(rep.total)
    columns = rep.buckets + [("total", rep.total)]
    label_w = max(cell_len(row_label(rep, k)) for k in keys)
    col_w = max(max(len(name) for name, _ in columns), max(len(cell(k, v)) for _, f in columns for k, v in f.items()))
    per = max(1, (con.width - label_w - 3) // (col_w + 3))
    con.print(f"Calls {shown(rep.lo)} to {shown(rep.hi)} (China time), by {rep.by}{scope}")
    for i in range(0, len(columns), per):
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False)
        table.add_column("figure", no_wrap=True)
        for name, _ in columns[i:i + per]:
            table.add_column(name, justify="right", no_wrap=True)
        for k in keys:
            table.add_row(row_label(rep, k), *(cell(k, f.get(k, 0)) for _, f in columns[i:i + per]))
        con.print(table)
    _definitions(con, [(rep.labels[k], rep.definitions[k]) for k in keys if not k.startswith("transfer:")])
    return _text(con)


def render_gbt(rep: report.Report, cfg, scope: str = "", width: int | None = None) -> str:
    from rich.table import Table

    con = _console(width)
    con.print(f"GB/T 33358 per center and day, {shown(rep.lo)} to {shown(rep.hi)} (China time){scope}")
    con.print(f"targets: share within 15 s >= {cfg.records.answer_target:.0%}, "
              f"接通率 >= {cfg.records.connection_target:.0%}")
    table = Table(box=None, pad_edge=False, padding=(0, 1))
    for name, right in GBT_HEADERS:
        table.add_column(name, justify="right" if right else "left", no_wrap=True)
    for r in rep.gbt:
        table.add_row(r["center"] or "?", r["day"], *(cell(k, r[k]) for k in GBT_COLUMNS[2:-1]), ", ".join(r["misses"]))
    con.print(table)
    con.print(f"{sum(r['flagged'] for r in rep.gbt)} of {len(rep.gbt)} center-days flagged")
    _definitions(con, [(lab, rep.gbt_definitions[k]) for k, (lab, _) in report.GBT_FIGURES.items()])
    return _text(con)


def _definitions(con, pairs) -> None:
    """Label and definition side by side, the definition wrapping in its own column."""
    from rich.table import Table

    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column()
    for lab, text in pairs:
        grid.add_row(f"  {lab.strip()}", text)
    con.print("Definitions")
    con.print(grid)


def to_csv(rep: report.Report, *, gbt: bool = False) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    if gbt:
        writer.writerow(GBT_COLUMNS + ("misses",))
        for r in rep.gbt:
            writer.writerow([_plain(r[k]) for k in GBT_COLUMNS] + [" ".join(r["misses"])])
        return out.getvalue()
    keys = list(rep.total)
    writer.writerow(["bucket"] + keys)
    for name, figs in rep.buckets + [("total", rep.total)]:
        writer.writerow([name] + [_plain(figs.get(k, 0)) for k in keys])
    return out.getvalue()


def _plain(value) -> str:
    return "" if value is None else ("true" if value is True else "false" if value is False else str(value))


def to_json(rep: report.Report, cfg, *, gbt: bool = False) -> dict:
    head = {"from": dt.datetime.fromtimestamp(rep.lo, CHINA).isoformat(),
            "to": dt.datetime.fromtimestamp(rep.hi, CHINA).isoformat(),
            "center": rep.center or None, "queue": rep.queue or None}
    if gbt:
        return {**head, "targets": {"share_15s": cfg.records.answer_target,
                                    "connection_rate": cfg.records.connection_target},
                "gbt": rep.gbt, "definitions": rep.gbt_definitions}
    return {**head, "by": rep.by, "buckets": [{"bucket": name, **figs} for name, figs in rep.buckets],
            "total": rep.total, "labels": rep.labels, "definitions": rep.definitions}


def workbook(rep: report.Report, cfg):
    """Figures, their definitions and the GB/T summary, one sheet each (shares as Excel percentages)."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    ws.title = "Figures"
    keys = list(rep.total)
    ws.append(["bucket"] + keys)
    for name, figs in rep.buckets + [("total", rep.total)]:
        ws.append([name] + [figs.get(k, 0) for k in keys])
    _style(ws, ["bucket"] + keys)
    defs = wb.create_sheet("Definitions")
    defs.append(["figure", "label", "definition"])
    for k in keys:
        if not k.startswith("transfer:"):
            defs.append([k, rep.labels[k].strip(), rep.definitions[k]])
    for k, (lab, _) in report.GBT_FIGURES.items():
        defs.append([f"gbt.{k}", lab, rep.gbt_definitions[k]])
    defs.column_dimensions["C"].width = 100
    gbt = wb.create_sheet("GBT 33358")
    gbt.append(list(GBT_COLUMNS) + ["misses"])
    for r in rep.gbt:
        gbt.append([r[k] for k in GBT_COLUMNS] + [" ".join(r["misses"])])
    _style(gbt, list(GBT_COLUMNS))
    for sheet in (ws, defs, gbt):
        for c in sheet[1]:
            c.font = Font(bold=True)
    return wb


def _style(ws, header: list[str]) -> None:
    for col, key in enumerate(header, start=1):
        ws.column_dimensions[ws.cell(1, col).column_letter].width = max(10, len(key) + 2)
        if key in SHARES:
            for (c,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                c.number_format = "0.0%"


def chart(rep: report.Report, cfg, path: str) -> None:
    """Offered and answered calls above, the two shares below; ASCII labels keep fonts out of it."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure
    from matplotlib.ticker import PercentFormatter

    days = [name for name, _ in rep.days]
    x = range(len(days))
    fig = Figure(figsize=(max(6.0, 0.35 * len(days) + 3), 6), layout="constrained")
    top, bottom = fig.subplots(2, 1, sharex=True)
    top.bar([i - 0.2 for i in x], [f["offered"] for _, f in rep.days], width=0.4, label="offered")
    top.bar([i + 0.2 for i in x], [f["answered"] for _, f in rep.days], width=0.4, label="answered")
    top.set_ylabel("calls")
    top.legend(loc="upper left", fontsize="small")
    for key, name, target in (("sl_share", f"answered within {cfg.service_level_s:g} s",
                               cfg.records.answer_target),
                              ("connection_rate", "connection rate (jietonglv)", cfg.records.connection_target)):
        values = [f[key] if f[key] is not None else float("nan") for _, f in rep.days]
        line, = bottom.plot(list(x), values, marker="o", label=name)
        bottom.axhline(target, linestyle="--", linewidth=0.8, color=line.get_color())
    bottom.set_ylim(0, 1.05)
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0))
    bottom.legend(loc="lower left", fontsize="small")
    bottom.set_xticks(list(x), [d[5:] for d in days], rotation=90 if len(days) > 10 else 0)
    scope = " ".join(v for v in (rep.center, rep.queue) if v) or "province"
    top.set_title(f"12345 calls per day, {scope}, {days[0] if days else ''} to {days[-1] if days else ''}")
    fig.savefig(path)
