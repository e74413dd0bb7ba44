"""A records writer in its own process, for the kill test: submit N calls, say so, then write
them slowly (small batches) until killed or done."""

from __future__ import annotations

import asyncio
import sys

from acd.db.settings import RecordsConfig
from acd.db.writer import close_writer, open_writer
from hotline import log
from tests.records.records_data import T0, answered_call


async def main(url: str, spool_dir: str, calls: int, batch: int) -> None:
    log.setup("warning")
    writer = await open_writer(RecordsConfig(url=url, spool_dir=spool_dir), node="killed")
    writer.batch = batch
    for i in range(calls):
        writer.submit_call(answered_call(f"k{i:04d}", at=T0 + i))
    print("submitted", flush=True)
    while writer.pending:
        await writer.flush_once()
        await asyncio.sleep(0.005)      # slow on purpose: the test kills us mid-way
    print("done", writer.status()["written"], flush=True)
    await close_writer(writer)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))
