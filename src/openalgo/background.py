"""Background work of the REST layer, started and stopped by the lifespan.

- the monitor's flush loop (request and order-latency records, batched);
- SQLite's WAL checkpoints (`db.checkpoint`), so that no committing writer does the copy;
- order-journal upkeep: intents left pending by a stopped server are marked ``unknown`` at start
  and every few minutes after, and expired idempotency keys are deleted.

Failures are logged and retried on the next round; none of this can stop the server.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from openalgo.db.checkpoint import checkpoints_apply, run_checkpoints
from openalgo.runtime import Runtime

log = logging.getLogger("openalgo.background")

JOURNAL_UPKEEP_SECONDS = 300.0


async def journal_upkeep(runtime: Runtime, every: float = JOURNAL_UPKEEP_SECONDS) -> None:
    timeout = timedelta(seconds=runtime.settings.order_intent_timeout_seconds)
    while True:
        try:
            await runtime.journal.mark_unknown(timeout)
            await runtime.journal.purge_expired_keys()
        except Exception:
            log.exception("order journal upkeep failed")
        await asyncio.sleep(every)


def start_background(runtime: Runtime) -> list[asyncio.Task[None]]:
    if not runtime.settings.background_tasks:
        return []
    interval = runtime.settings.monitoring_flush_seconds
    tasks = [
        asyncio.create_task(runtime.monitor.run(interval), name="monitoring-flush"),
        asyncio.create_task(journal_upkeep(runtime), name="order-journal-upkeep"),
    ]
    if checkpoints_apply(runtime.engine):
        tasks.append(asyncio.create_task(run_checkpoints(runtime.engine), name="wal-checkpoints"))
    return tasks


async def stop_background(runtime: Runtime, tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
    with contextlib.suppress(Exception):
        await runtime.journal.aclose()
    if runtime.settings.background_tasks:
        with contextlib.suppress(Exception):
            await runtime.monitor.flush()
