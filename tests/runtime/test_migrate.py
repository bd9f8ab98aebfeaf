"""`keptn-temporal migrate`: idempotent search-attribute registration and the embedded-NATS path."""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from pathlib import Path

import pytest
from google.protobuf.duration_pb2 import Duration
from temporalio.api.workflowservice.v1 import RegisterNamespaceRequest
from temporalio.client import Client

from keptn_temporal.search_attributes import KEPTN_SEARCH_ATTRIBUTES
from keptn_temporal.temporal_client import register_search_attributes
from tests.fixtures.servers import free_port

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_register_search_attributes_is_idempotent(temporal_client: Client) -> None:
    namespace = f"ns-{uuid.uuid4().hex[:8]}"
    await temporal_client.workflow_service.register_namespace(
        RegisterNamespaceRequest(
            namespace=namespace, workflow_execution_retention_period=Duration(seconds=86400)
        )
    )
    client = await Client.connect(temporal_client.service_client.config.target_host, namespace=namespace)
    names = [key.name for key in KEPTN_SEARCH_ATTRIBUTES]

    # A namespace that was just registered may take a moment to reach every frontend cache.
    for _ in range(50):
        try:
            added = await register_search_attributes(client)
            break
        except Exception:
            await asyncio.sleep(0.2)
    else:
        pytest.fail("namespace never became usable")

    assert sorted(added) == sorted(names)
    assert await register_search_attributes(client) == []


async def test_migrate_command_starts_embedded_nats_when_up_is_not_running(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = dict(os.environ, KEPTN_DATA_DIR=str(data_dir), KEPTN_NATS_PORT=str(free_port()))
    for name in ("NATS_URL", "TEMPORAL_ADDRESS", "KEPTN_DATABASE_URL"):
        env.pop(name, None)

    for expected in ("stream KEPTN: created", "stream KEPTN: unchanged"):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "keptn_temporal.cli",
            "migrate",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(proc.communicate(), 60)
        assert proc.returncode == 0, output.decode()
        assert expected in output.decode()
    # "unchanged" on the second run: the stream survived in the temporary server's store in the data dir.
    assert (data_dir / "keptn.db").exists()
    assert (data_dir / "nats" / "jetstream").is_dir()
