"""How fast flows are checked, reloaded and walked (figures printed, nothing asserted).

    /work/.venv/bin/python bench/flows_bench.py
"""

from __future__ import annotations

import datetime as dt
import pathlib
import time

from ivr.flows.check import flow_files, load_and_check
from ivr.flows.registry import FlowRegistry
from ivr.flows.simulate import all_walks, simulate

ROOT = pathlib.Path(__file__).resolve().parents[1]
AT = dt.datetime(2026, 11, 27, 10, 0)


def timed(fn, n):
    start = time.perf_counter()
    for _ in range(n):
        out = fn()
    return (time.perf_counter() - start) / n, out


def main() -> None:
    from hotline import log

    log.setup("warning")
    files = flow_files(ROOT / "flows")
    per_check, result = timed(lambda: load_and_check(files, ROOT / "config", None), 20)
    print(f"check {len(files)} flows + config: {per_check * 1000:.1f} ms")
    reg = FlowRegistry(ROOT / "flows", ROOT / "config", prompts_dir=None)
    reg.load()
    per_reload, _ = timed(reg.reload, 20)
    print(f"reload (load + check + swap): {per_reload * 1000:.1f} ms")
    per_plan, _ = timed(lambda: reg.plan("043212345", "13900001111"), 20000)
    print(f"plan a call (route + snapshot): {per_plan * 1e6:.1f} µs")
    flowset = result.flowset
    per_walk, _ = timed(lambda: simulate(flowset, dialled="12345", caller="043188881234", at=AT, presses=["1", "2"]), 300)
    print(f"one simulated call (menu, queue, survey): {per_walk * 1000:.2f} ms")
    start = time.perf_counter()
    walks = all_walks(flowset, dialled="043312345", caller="043388881234", at=AT)
    print(f"all paths of the Yanbian flow: {len(walks)} walks in {time.perf_counter() - start:.2f} s")


if __name__ == "__main__":
    main()
