"""One control plane per test session and database: the API and the worker in this process."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
import pytest_asyncio
from cryptography.fernet import Fernet
from temporalio.client import Client
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

import workflows
from activities import ALL_ACTIVITIES
from api.app import create_app
from eventbus.connection import connect
from eventbus.stream import ensure_consumer, ensure_stream
from keptn_temporal.settings import Settings
from tests.engine.harness import TOKEN, Stack
from tests.fixtures.servers import run_nats_server
from worker.main import wire_engine
from worker.resources import WorkerResources
from workflows.patches import activate_patch


class FixedTemporal:
    def __init__(self, client: Client) -> None:
        self.client = client

    async def get(self) -> Client:
        return self.client


def engine_settings(database_url: str, nats_url: str, temporal: Client, data_dir: Path) -> Settings:
    return Settings(
        data_dir=data_dir,
        api_host="127.0.0.1",
        api_port=0,
        api_token=TOKEN,
        api_token_generated=False,
        database_url=database_url,
        secret_key=Fernet.generate_key().decode(),
        temporal_address=temporal.service_client.config.target_host,
        temporal_namespace=temporal.namespace,
        temporal_port=0,
        temporal_ui_port=0,
        task_queue=f"engine-{uuid.uuid4().hex[:8]}",
        nats_url=nats_url,
        nats_port=0,
        worker_grace_s=2,
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def stack(
    database_url: str, temporal_env: WorkflowEnvironment, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Stack]:
    with run_nats_server(tmp_path_factory.mktemp("engine-nats")) as nats_url:
        settings = engine_settings(
            database_url, nats_url, temporal_env.client, tmp_path_factory.mktemp("engine")
        )
        nc = await connect(nats_url, "engine-tests")
        js = nc.jetstream()
        await ensure_stream(js, settings)
        await ensure_consumer(js, settings)
        resources = await WorkerResources.open(settings)
        client = temporal_env.client
        engine = wire_engine(settings, resources, client)
        stop = asyncio.Event()
        worker = Worker(
            client,
            task_queue=settings.task_queue,
            workflows=workflows.ALL_WORKFLOWS,
            activities=[*ALL_ACTIVITIES, *engine.activities.all()],
            # As the real worker: patches stay dormant unless workflows/patches.py activates them.
            patch_activation_callback=activate_patch,
        )
        app = create_app(settings)
        app.state.temporal = FixedTemporal(client)
        async with worker, app.router.lifespan_context(app):
            intake_task = asyncio.create_task(engine.intake.run(stop))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://keptn.test", headers={"x-token": TOKEN}, timeout=30
            ) as api:
                s = Stack(api=api, settings=settings, nc=nc, temporal=client)
                s.router = engine.router  # type: ignore[attr-defined]
                yield s
            stop.set()
            await intake_task
        await resources.close()
        await nc.close()
