"""The bare-Temporal baseline of bench/sequences.py: one workflow running K trivial activities in a row.

It lives in its own module (imports only temporalio and the standard library) so that the baseline worker can
use Temporal's default workflow sandbox, exactly like the keptn-temporal worker does: the sandbox re-imports
a workflow's module, which would be awkward for a script run as __main__.
"""

from __future__ import annotations

import time
from datetime import timedelta

from temporalio import activity, workflow

STEP_ACTIVITY = "bench_step"

# (workflow id, activity index) -> (perf_counter at activity start, perf_counter at activity end).
# Activities run in the benchmark's own process (not in the sandbox), so this plain dict is shared with the
# code that computes the latencies; perf_counter is the same clock the Keptn measurements use.
STEP_TIMES: dict[tuple[str, int], tuple[float, float]] = {}


@activity.defn(name=STEP_ACTIVITY)
async def bench_step(index: int) -> int:
    started = time.perf_counter()
    workflow_id = activity.info().workflow_id
    STEP_TIMES[(workflow_id, index)] = (started, time.perf_counter())
    return index


@workflow.defn(name="BenchBaseline")
class BaselineWorkflow:
    @workflow.run
    async def run(self, activities: int) -> int:
        # Sequential, like a sequence's activities: each one waits for the previous completion.
        for index in range(activities):
            await workflow.execute_activity(
                STEP_ACTIVITY, index, start_to_close_timeout=timedelta(seconds=30)
            )
        return activities
