"""Forecast of calls per interval, read from CSV.

Format (one header line, then one row per interval, in time order):

    start,calls[,aht_s]
    2026-01-05T00:00,12
    2026-01-05T00:30,9,250

``start`` is local time (Asia/Shanghai) in ISO form; intervals are 15 or 30
minutes and must follow each other without gaps.  ``aht_s`` is optional per
row; missing means the configured average handling time.  Mistakes are reported
with file:line because forecasts are often edited in a spreadsheet.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import pathlib
from dataclasses import dataclass

from seats.errors import SeatsError

ALLOWED_INTERVALS = (15, 30)


@dataclass(frozen=True)
class Forecast:
    start: dt.datetime
    interval_min: int
    calls: tuple[float, ...]
    aht_s: tuple[float | None, ...]
    source: str = "<memory>"
    lines: tuple[int, ...] = ()

    def where(self, i: int) -> str:
        return f"{self.source}:{self.lines[i]}" if self.lines else self.source

    def __len__(self) -> int:
        return len(self.calls)

    def time(self, i: int) -> dt.datetime:
        return self.start + dt.timedelta(minutes=self.interval_min * i)


def _number(text: str, what: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise SeatsError(f"{what} {text!r} is not a number", where=where) from None
    if not math.isfinite(value) or value < 0:
        raise SeatsError(f"{what} must be a finite number >= 0, got {text!r}", where=where)
    return value


def read_forecast(path: pathlib.Path | str) -> Forecast:
    from seats.files import read_text

    path = pathlib.Path(path)
    with io.StringIO(read_text(path, "forecast"), newline="") as handle:
        reader = csv.reader(handle)
        try:
            header = [h.strip().lower() for h in next(reader)]
        except StopIteration:
            raise SeatsError("empty forecast file", where=f"{path}:1") from None
        except csv.Error as exc:
            raise SeatsError(f"bad CSV: {exc}", where=f"{path}:1") from None
        if header[:2] != ["start", "calls"] or len(header) > 3 or (
            len(header) == 3 and header[2] != "aht_s"
        ):
            raise SeatsError(
                f"header must be 'start,calls' or 'start,calls,aht_s', got {','.join(header)!r}",
                where=f"{path}:1",
            )
        starts: list[dt.datetime] = []
        calls: list[float] = []
        ahts: list[float | None] = []
        lines: list[int] = []
        try:
            for row in reader:
                line = reader.line_num
                where = f"{path}:{line}"
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < 2 or len(row) > len(header):
                    raise SeatsError(f"expected {len(header)} columns, got {len(row)}", where=where)
                try:
                    start = dt.datetime.fromisoformat(row[0].strip())
                except ValueError:
                    raise SeatsError(f"start {row[0]!r} is not an ISO date-time", where=where) from None
                if start.tzinfo is not None:
                    start = start.replace(tzinfo=None)
                if starts:
                    step = (start - starts[-1]).total_seconds() / 60
                    expected = (starts[1] - starts[0]).total_seconds() / 60 if len(starts) > 1 else step
                    if len(starts) == 1 and step not in ALLOWED_INTERVALS:
                        raise SeatsError(
                            f"intervals must be 15 or 30 minutes, this row is {step:g} min after the last",
                            where=where,
                        )
                    if step != expected:
                        raise SeatsError(
                            f"gap or overlap: {start:%Y-%m-%d %H:%M} is {step:g} min after the last row, "
                            f"expected {expected:g}",
                            where=where,
                        )
                starts.append(start)
                lines.append(line)
                calls.append(_number(row[1].strip(), "calls", where))
                if len(row) == 3 and row[2].strip():
                    aht = _number(row[2].strip(), "aht_s", where)
                    if aht == 0:
                        raise SeatsError("aht_s must be > 0", where=where)
                    ahts.append(aht)
                else:
                    ahts.append(None)
        except csv.Error as exc:
            raise SeatsError(f"bad CSV: {exc}", where=f"{path}:{reader.line_num}") from None
    if len(starts) < 2:
        raise SeatsError("a forecast needs at least two intervals", where=str(path))
    interval = int((starts[1] - starts[0]).total_seconds() // 60)
    return Forecast(starts[0], interval, tuple(calls), tuple(ahts), str(path), tuple(lines))


def write_forecast(path: pathlib.Path, forecast: Forecast) -> None:
    with pathlib.Path(path).open("w", newline="", encoding="utf-8") as handle:
        w = csv.writer(handle)
        w.writerow(["start", "calls", "aht_s"])
        for i, (c, a) in enumerate(zip(forecast.calls, forecast.aht_s)):
            w.writerow([forecast.time(i).isoformat(timespec="minutes"), f"{c:g}", "" if a is None else f"{a:g}"])


# Share of a day's calls in each hour, a typical government hotline curve: quiet
# at night, a morning peak after 09:00, a second one after lunch.  Synthetic:
# used for samples and the benchmark, never as a fact about Jilin.
HOURLY_PROFILE = (
    0.6, 0.4, 0.3, 0.3, 0.3, 0.5, 1.0, 2.5, 5.5, 8.0, 8.5, 7.5,
    5.5, 6.0, 7.5, 7.5, 7.0, 6.0, 4.5, 3.5, 3.0, 2.5, 1.8, 1.0,
)


def synthetic(
    start: dt.datetime, days: int, calls_per_day: float, interval_min: int = 30,
    weekend_factor: float = 0.7,
) -> Forecast:
    """A smooth, deterministic forecast for samples and the benchmark."""
    total = sum(HOURLY_PROFILE)
    per_hour_slots = 60 // interval_min
    calls = []
    for d in range(days):
        day = start + dt.timedelta(days=d)
        factor = weekend_factor if day.weekday() >= 5 else 1.0
        for h in range(24):
            for _ in range(per_hour_slots):
                calls.append(round(calls_per_day * factor * HOURLY_PROFILE[h] / total / per_hour_slots, 1))
    return Forecast(start, interval_min, tuple(calls), tuple([None] * len(calls)), "synthetic")
