"""Worker versioning on the real dev server: a deployment bootstraps on its first build, `rollout` moves new
work to another build and back, and the build it left drains."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import pytest_asyncio
from temporalio.client import Client

import activities
import workflows
from activities.health import PingRequest
from keptn_temporal import versioning
from keptn_temporal.settings import Settings
from tests.fixtures.servers import SettingsFactory
from worker.main import run_worker
from workflows.health import ControlPlanePingWorkflow

pytestmark = pytest.mark.asyncio(loop_scope="session")


class Builds:
    """Workers of several builds of one (test-only) deployment, serving one task queue."""

    def __init__(self, client: Client, settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
        self.client, self.settings, self.monkeypatch = client, settings, monkeypatch
        self.deployment = f"test-{uuid.uuid4().hex[:8]}"
        self.running: list[tuple[asyncio.Event, asyncio.Task[None]]] = []

    async def start(self, build: str, promote: str) -> None:
        # build_id() and deployment_name() read the environment once, when the Worker is constructed.
        self.monkeypatch.setenv("TEMPORAL_DEPLOYMENT_NAME", self.deployment)
        self.monkeypatch.setenv("TEMPORAL_WORKER_BUILD_ID", build)
        stop = asyncio.Event()
        settings = Settings(**{**self.settings.__dict__, "worker_promote": promote})
        task = asyncio.create_task(
            run_worker(
                settings,
                workflows=workflows.ALL_WORKFLOWS,
                activities=activities.ALL_ACTIVITIES,
                stop=stop,
                client=self.client,
            )
        )
        await asyncio.sleep(0)  # let the worker read the environment before the next start changes it
        self.running.append((stop, task))
        await versioning.wait_registered(self.client, build, timeout_s=30, name=self.deployment)

    async def answered_by(self) -> str:
        """The build that ran a new ping workflow, as the server recorded it (all builds share this process,
        so the ping's own answer cannot tell them apart)."""
        handle = await self.client.start_workflow(
            ControlPlanePingWorkflow.run,
            PingRequest(requested_by="test"),
            id=f"ping-{uuid.uuid4()}",
            task_queue=self.settings.task_queue,
            execution_timeout=timedelta(seconds=30),
        )
        await handle.result()
        info = (await handle.describe()).raw_description.workflow_execution_info.versioning_info
        return info.deployment_version.build_id

    async def stop(self) -> None:
        for stop, task in self.running:
            stop.set()
            await asyncio.wait_for(task, 30)


@pytest_asyncio.fixture(loop_scope="session")
async def builds(
    settings_factory: SettingsFactory, temporal_client: Client, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Builds]:
    b = Builds(temporal_client, settings_factory(), monkeypatch)
    yield b
    await b.stop()


async def test_rollout_moves_new_work_forward_and_back(builds: Builds) -> None:
    client, name = builds.client, builds.deployment
    await builds.start("1.0+aaa", promote="bootstrap")  # the first build activates the new deployment
    state = await versioning.describe(client, name)
    for _ in range(50):
        if state is not None and state.current == "1.0+aaa":
            break
        await asyncio.sleep(0.2)
        state = await versioning.describe(client, name)
    assert state is not None and state.current == "1.0+aaa"
    assert await builds.answered_by() == "1.0+aaa"

    await builds.start("2.0+bbb", promote="bootstrap")  # a second build does not take over by itself
    assert await builds.answered_by() == "1.0+aaa"

    assert await versioning.set_current(client, "2.0+bbb", name=name) == "1.0+aaa"  # upgrade
    assert await builds.answered_by() == "2.0+bbb"
    assert await versioning.set_current(client, "1.0+aaa", name=name) == "2.0+bbb"  # downgrade
    assert await builds.answered_by() == "1.0+aaa"
    # Setting the current build again changes nothing.
    assert await versioning.set_current(client, "1.0+aaa", name=name) == "1.0+aaa"

    state = await versioning.describe(client, name)
    assert state is not None
    assert {v.build_id: v.status for v in state.versions}["2.0+bbb"] in ("draining", "drained")


async def test_a_build_nobody_runs_cannot_become_current(builds: Builds) -> None:
    await builds.start("1.0+aaa", promote="bootstrap")
    with pytest.raises(versioning.RolloutError, match="no worker of build"):
        await versioning.set_current(builds.client, "9.9+zzz", name=builds.deployment, timeout_s=2)
