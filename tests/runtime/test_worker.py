"""worker/ against the real Temporal dev server: it serves the task queue and shuts down gracefully."""

from __future__ import annotations

import asyncio
import dataclasses
import signal
import sys
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from temporalio.client import Client, WorkflowHandle

import activities
import workflows
from keptn_temporal.settings import Settings
from tests.fixtures.servers import SettingsFactory, subprocess_env
from tests.runtime.sample_workflows import SlowActivities, SlowStepWorkflow
from worker.main import run_worker
from workflows.health import ping_control_plane

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_worker_answers_the_control_plane_ping(
    settings_factory: SettingsFactory, temporal_client: Client
) -> None:
    settings = settings_factory()
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_worker(
            settings,
            workflows=workflows.ALL_WORKFLOWS,
            activities=activities.ALL_ACTIVITIES,
            stop=stop,
            client=temporal_client,
        )
    )
    try:
        result = await ping_control_plane(temporal_client, settings.task_queue, requested_by="test")
        assert result.task_queue == settings.task_queue
        assert result.build_id
    finally:
        stop.set()
        await asyncio.wait_for(running, 10)


async def _start_slow(
    settings_factory: SettingsFactory, client: Client, grace_s: float, seconds: float
) -> tuple[Settings, SlowActivities, asyncio.Event, asyncio.Task[None], WorkflowHandle[Any, str]]:
    """A worker running SlowStep whose activity has just started."""
    settings = settings_factory(worker_grace_s=grace_s)
    acts = SlowActivities()
    stop = asyncio.Event()
    running = asyncio.create_task(
        run_worker(
            settings, workflows=[SlowStepWorkflow], activities=[acts.slow_step], stop=stop, client=client
        )
    )
    handle = await client.start_workflow(
        SlowStepWorkflow.run, seconds, id=f"slow-{uuid.uuid4()}", task_queue=settings.task_queue
    )
    await asyncio.wait_for(acts.started.wait(), 10)
    return settings, acts, stop, running, handle


async def test_stop_lets_an_inflight_activity_finish(
    settings_factory: SettingsFactory, temporal_client: Client
) -> None:
    settings, acts, stop, running, handle = await _start_slow(
        settings_factory, temporal_client, grace_s=10, seconds=1.5
    )

    stop.set()
    await asyncio.wait_for(running, 10)
    assert acts.outcome == "finished"

    # The activity result reached the server; a fresh worker (the next replica) completes the workflow.
    stop2 = asyncio.Event()
    second = asyncio.create_task(
        run_worker(settings, workflows=[SlowStepWorkflow], activities=[], stop=stop2, client=temporal_client)
    )
    try:
        assert await asyncio.wait_for(handle.result(), 20) == "slept 1.5s"
    finally:
        stop2.set()
        await asyncio.wait_for(second, 10)


async def test_stop_cancels_activities_that_outlive_the_grace_period(
    settings_factory: SettingsFactory, temporal_client: Client
) -> None:
    _, acts, stop, running, handle = await _start_slow(
        settings_factory, temporal_client, grace_s=0.5, seconds=60
    )

    started = time.monotonic()
    stop.set()
    await asyncio.wait_for(running, 10)
    assert time.monotonic() - started < 5
    assert acts.outcome == "cancelled"
    await handle.terminate("test done")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_worker_process_exits_0_on_signal(
    settings_factory: SettingsFactory, temporal_client: Client, signum: signal.Signals
) -> None:
    settings = dataclasses.replace(settings_factory(), worker_grace_s=5)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "keptn_temporal.cli",
        "worker",
        env=subprocess_env(settings),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        # The ping proves the process is connected and polling before we stop it.
        await ping_control_plane(
            temporal_client,
            settings.task_queue,
            requested_by="test",
            execution_timeout=timedelta(seconds=30),
        )
        started = time.monotonic()
        proc.send_signal(signum)
        output, _ = await asyncio.wait_for(proc.communicate(), 15)
        assert proc.returncode == 0, output.decode()
        assert time.monotonic() - started < settings.worker_grace_s + 5
        assert b"worker stopped" in output
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
