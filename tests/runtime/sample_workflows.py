"""Test-only workflow and activities for worker shutdown tests (importable, no side effects: the workflow
sandbox re-imports this module)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import activity, workflow


@workflow.defn(name="SlowStep")
class SlowStepWorkflow:
    @workflow.run
    async def run(self, seconds: float) -> str:
        return await workflow.execute_activity(
            "slow_step", seconds, start_to_close_timeout=timedelta(seconds=60), heartbeat_timeout=None
        )


class SlowActivities:
    """Records what happened to the activity, so a test can tell "finished" from "cancelled"."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.outcome: str | None = None

    @activity.defn(name="slow_step")
    async def slow_step(self, seconds: float) -> str:
        self.started.set()
        try:
            await asyncio.sleep(seconds)
        except asyncio.CancelledError:
            self.outcome = "cancelled"
            raise
        self.outcome = "finished"
        return f"slept {seconds}s"
