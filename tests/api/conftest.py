"""An API replica running in-process against real PostgreSQL/SQLite, a real nats-server and JetStream."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from cryptography.fernet import Fernet

from api.app import create_app
from eventbus.stream import ensure_stream
from keptn_temporal.settings import Settings

TOKEN = "test-token-0123456789"
REPO = Path(__file__).resolve().parents[2]
SHIPYARDS = REPO.parent / "shared" / "keptn" / "examples" / "shipyard"


def b64(text: str | bytes) -> str:
    raw = text.encode() if isinstance(text, str) else text
    return base64.b64encode(raw).decode()


def shipyard_b64(name: str = "onboarding-carts.shipyard.yaml") -> str:
    return b64((SHIPYARDS / name).read_text())


@dataclasses.dataclass
class Api:
    client: httpx.AsyncClient
    settings: Settings
    js: Any

    async def stream_messages(self) -> int:
        return (await self.js.stream_info(self.settings.stream_name)).state.messages

    async def create_project(self, name: str, shipyard: str | None = None) -> httpx.Response:
        body = {"name": name, "shipyard": shipyard or shipyard_b64()}
        return await self.client.post("/api/controlPlane/v1/project", json=body)

    async def create_service(self, project: str, service: str) -> httpx.Response:
        return await self.client.post(
            f"/api/controlPlane/v1/project/{project}/service", json={"serviceName": service}
        )


@pytest.fixture(scope="session")
async def api(
    database_url: str, nats_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Api]:
    settings = Settings(
        data_dir=tmp_path_factory.mktemp("api-data"),
        api_host="127.0.0.1",
        api_port=0,
        api_token=TOKEN,
        api_token_generated=False,
        database_url=database_url,
        secret_key=Fernet.generate_key().decode(),
        temporal_address="127.0.0.1:1",  # the API of this issue does not talk to Temporal
        temporal_namespace="default",
        temporal_port=0,
        temporal_ui_port=0,
        task_queue="keptn-test",
        nats_url=nats_url,
        nats_port=0,
    )
    nc = await nats.connect(nats_url)
    js = nc.jetstream()
    await ensure_stream(js, settings)  # the migrate step's job; replicas only bind
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://keptn.test", headers={"x-token": TOKEN}
        ) as client:
            yield Api(client=client, settings=settings, js=js)
    await nc.close()
