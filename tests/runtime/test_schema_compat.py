"""Expand/contract, for real: the previous release's API and worker run on the current schema.

During a rollout the previous release (deploy/drill/PREVIOUS_RELEASE) and this one share one database, and
after a downgrade the previous release runs on a schema this release migrated. So: migrate with the current
code, run the previous release's processes (installed from git, as the drill does), use them as a Keptn user
would, and check that each release reads what the other wrote.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import signal
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from sqlalchemy import select

from api.app import create_app
from deploy.local import releases
from keptn_temporal.migrate import migrate
from store.db import Database
from store.schema import SequenceExecution
from tests.fixtures.servers import SettingsFactory, free_port, subprocess_env

pytestmark = pytest.mark.asyncio(loop_scope="session")

REPO = Path(__file__).resolve().parents[2]
SHIPYARD = (REPO.parent / "shared/keptn/examples/shipyard/zd-tests.hardening.shipyard.yaml").read_text()
SLO = "spec_version: '1.0'\ncomparison:\n  compare_with: single_result\nobjectives: []\n"
TOKEN = "compat-token"


@pytest.fixture(scope="module")
def previous_release() -> releases.Release:
    revision = (REPO / "deploy/drill/PREVIOUS_RELEASE").read_text().split()[0]
    return releases.install(REPO, revision, REPO / ".drill/releases", "previous")


@dataclasses.dataclass
class Processes:
    api: httpx.AsyncClient
    procs: list[asyncio.subprocess.Process]


@pytest_asyncio.fixture(loop_scope="session")
async def previous(
    previous_release: releases.Release,
    settings_factory: SettingsFactory,
    database_url: str,
    private_nats_url: str,
    tmp_path: Path,
) -> AsyncIterator[tuple[Processes, Any]]:
    settings = settings_factory(
        database_url=database_url, nats_url=private_nats_url, stream_name="KEPTN", api_token=TOKEN
    )
    await migrate(settings)  # the CURRENT release's migration: schema at head, stream, consumer
    port = free_port()
    env = subprocess_env(
        settings,
        KEPTN_API_TOKEN=TOKEN,
        KEPTN_API_PORT=str(port),
        KEPTN_SECRET_KEY=settings.secret_key,
        TEMPORAL_DEPLOYMENT_NAME=f"compat-{uuid.uuid4().hex[:8]}",
        TEMPORAL_WORKER_BUILD_ID=previous_release.build_id,
        KEPTN_WORKER_PROMOTE="always",
    )
    for name in ("PYTHONPATH", "VIRTUAL_ENV"):
        env.pop(name, None)
    procs = []
    for component in ("worker", "api"):
        log = (tmp_path / f"previous-{component}.log").open("wb")
        procs.append(
            await asyncio.create_subprocess_exec(
                str(previous_release.cli), component, env=env, stdout=log, stderr=log, cwd=tmp_path
            )
        )
    async with httpx.AsyncClient(
        base_url=f"http://127.0.0.1:{port}", headers={"x-token": TOKEN}, timeout=15
    ) as api:
        for _ in range(300):
            try:
                if (await api.get("/readyz")).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            await asyncio.sleep(0.1)
        else:
            pytest.fail(f"the previous release's API did not get ready; see {tmp_path}")
        yield Processes(api, procs), settings
    for proc in procs:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
    codes = [await asyncio.wait_for(p.wait(), 60) for p in procs]
    assert codes == [0, 0], f"previous release exited {codes}; logs in {tmp_path}"


async def _create_project(api: httpx.AsyncClient, project: str) -> None:
    r = await api.post(
        "/api/controlPlane/v1/project",
        json={"name": project, "shipyard": base64.b64encode(SHIPYARD.encode()).decode()},
    )
    assert r.status_code == 201, r.text
    r = await api.post(f"/api/controlPlane/v1/project/{project}/service", json={"serviceName": "svc"})
    assert r.status_code == 200, r.text
    r = await api.post(
        f"/api/resource-service/v1/project/{project}/stage/hardening/service/svc/resource",
        json={
            "resources": [
                {"resourceURI": "slo.yaml", "resourceContent": base64.b64encode(SLO.encode()).decode()}
            ]
        },
    )
    assert r.status_code == 201, r.text


async def _read_slo(api: httpx.AsyncClient, project: str) -> str:
    r = await api.get(
        f"/api/resource-service/v1/project/{project}/stage/hardening/service/svc/resource/slo.yaml"
    )
    assert r.status_code == 200, r.text
    return base64.b64decode(r.json()["resourceContent"]).decode()


async def _evaluate(api: httpx.AsyncClient, project: str) -> str:
    """`keptn trigger evaluation`, answered by an HTTP-polling lighthouse; returns the keptnContext."""
    r = await api.post(
        f"/api/controlPlane/v1/project/{project}/stage/hardening/service/svc/evaluation",
        json={"timeframe": "5m"},
    )
    assert r.status_code == 200, r.text
    context = r.json()["keptnContext"]
    for _ in range(200):
        r = await api.get(
            "/api/controlPlane/v1/event/triggered/sh.keptn.event.evaluation.triggered",
            params={"project": project},
        )
        open_events = [e for e in r.json().get("events") or [] if e["shkeptncontext"] == context]
        if open_events:
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("no evaluation.triggered from the previous release's worker")
    triggered = open_events[0]
    for kind, data in (("started", {}), ("finished", {"result": "pass", "status": "succeeded"})):
        r = await api.post(
            "/api/v1/event",
            json={
                "type": f"sh.keptn.event.evaluation.{kind}",
                "source": "lighthouse-service",
                "shkeptncontext": context,
                "triggeredid": triggered["id"],
                "data": {"project": project, "stage": "hardening", "service": "svc", **data},
            },
        )
        assert r.status_code == 200, r.text
    return context


async def _sequence_state(api: httpx.AsyncClient, project: str, context: str) -> str:
    for _ in range(200):
        r = await api.get(f"/api/controlPlane/v1/sequence/{project}", params={"keptnContext": context})
        states = [s["state"] for s in r.json().get("states") or []]
        if states == ["finished"]:
            return "finished"
        await asyncio.sleep(0.1)
    return ",".join(states)


async def test_the_previous_release_runs_on_the_current_schema(previous: tuple[Processes, Any]) -> None:
    processes, settings = previous
    old = processes.api
    project = f"compat-{uuid.uuid4().hex[:8]}"

    # The previous release, used as a Keptn user would: project, service, resource, an evaluation.
    await _create_project(old, project)
    context = await _evaluate(old, project)
    assert await _sequence_state(old, project, context) == "finished"

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://keptn.test", headers={"x-token": TOKEN}
        ) as current:
            # This release reads what the previous one wrote ...
            assert await _read_slo(current, project) == SLO
            assert await _sequence_state(current, project, context) == "finished"
            r = await current.get(
                "/api/mongodb-datastore/event",
                params={
                    "project": project,
                    "keptnContext": context,
                    "type": "sh.keptn.event.hardening.evaluation.finished",
                },
            )
            assert r.status_code == 200 and len(r.json()["events"]) == 1, r.text

            # ... and the previous release reads what this one writes.
            newer = f"compat-{uuid.uuid4().hex[:8]}"
            await _create_project(current, newer)
            assert await _read_slo(old, newer) == SLO
            r = await old.get(f"/api/controlPlane/v1/project/{newer}")
            assert r.status_code == 200 and [s["stageName"] for s in r.json()["stages"]] == ["hardening"], (
                r.text
            )

    # The column this release added (0003) is left NULL by the previous one: expand-only, nothing broke.
    db = Database(settings.database_url)
    try:
        async with db.session() as session:
            table = SequenceExecution.__table__
            rows = (
                await session.execute(
                    select(table.c.state, table.c.finished_at).where(table.c.project == project)
                )
            ).all()
    finally:
        await db.dispose()
    assert rows and all(state == "finished" and finished_at is None for state, finished_at in rows), rows
