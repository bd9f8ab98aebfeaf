"""Heartbeats for the I/O activities.

An activity that heartbeats is known to be alive; one whose worker was killed stops heartbeating and is
retried elsewhere after the workflow's short heartbeat timeout instead of its start-to-close timeout. The
beat runs beside the activity's work, so a slow database call does not look like a dead worker.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

from temporalio import activity

BEAT_INTERVAL_S = 1.0


@contextlib.asynccontextmanager
async def heartbeating(interval_s: float = BEAT_INTERVAL_S) -> AsyncIterator[None]:
    async def beat() -> None:
        # Sleep first: most activities end within a beat, and a heartbeat the moment an activity starts
        # would be one more server call per event on the hot path for nothing (the heartbeat timeout
        # counts from the start).
        while True:
            await asyncio.sleep(interval_s)
            activity.heartbeat()

    task = asyncio.create_task(beat(), name=f"heartbeat-{activity.info().activity_type}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
