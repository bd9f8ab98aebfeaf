"""GET /sequence/{project}, /sequence-execution and /event/triggered/{eventType}, on seeded repositories (the
workflows that write them in production are tested elsewhere)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from store.db import Database
from store.sequences import SequenceExecutionRecord, SequenceRepository, TriggeredEventRepository
from tests.api.conftest import Api
from tests.fixtures.databases import unique_name

BASE = "/api/controlPlane/v1"
T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def execution(project: str, context: str, stage: str, minute: int, **kw: Any) -> SequenceExecutionRecord:
    return SequenceExecutionRecord(
        **{
            "workflow_id": f"seq-{uuid.uuid4()}",
            "project": project,
            "stage": stage,
            "service": "carts",
            "sequence": "delivery",
            "keptn_context": context,
            "triggered_id": str(uuid.uuid4()),
            "state": "triggered",
            "triggered_at": T0 + timedelta(minutes=minute),
            "version": 1,
            **kw,
        }
    )


async def seed(database: Database, *records: SequenceExecutionRecord) -> None:
    repo = SequenceRepository(database)
    for record in records:
        assert await repo.save(record)


async def test_sequence_states(api: Api, database: Database) -> None:
    project = unique_name("proj")
    assert (await api.create_project(project)).status_code == 201
    delivery, remediation = str(uuid.uuid4()), str(uuid.uuid4())
    dev = execution(
        project,
        delivery,
        "dev",
        0,
        state="finished",
        status="succeeded",
        result="pass",
        image="docker.io/keptnexamples/carts:0.13.1",
        latest_event={
            "type": "sh.keptn.event.dev.delivery.finished",
            "id": "e1",
            "time": "2024-05-01T12:05:00.000Z",
        },
        latest_evaluation={"result": "pass", "score": 100.0},
    )
    staging = execution(
        project,
        delivery,
        "staging",
        6,
        state="started",
        current_task="deployment",
        latest_event={
            "type": "sh.keptn.event.deployment.triggered",
            "id": "e2",
            "time": "2024-05-01T12:06:00.000Z",
        },
    )
    remedy = execution(
        project,
        remediation,
        "production",
        10,
        sequence="remediation",
        state="finished",
        status="errored",
        result="fail",
        problem_title="Response time degradation",
        latest_failed_event={"type": "sh.keptn.event.get-action.finished", "id": "e3", "time": "x"},
    )
    await seed(database, dev, staging, remedy)

    r = await api.client.get(f"{BASE}/sequence/{project}")
    assert r.status_code == 200
    body = r.json()
    assert body["totalCount"] == 2 and "nextPageKey" not in body
    newest, oldest = body["states"]
    assert newest == {
        "name": "remediation",
        "service": "carts",
        "project": project,
        "time": "2024-05-01T12:10:00.000Z",
        "shkeptncontext": remediation,
        "state": "finished",
        "stages": [
            {
                "name": "production",
                "state": "errored",
                "latestFailedEvent": {"type": "sh.keptn.event.get-action.finished", "id": "e3", "time": "x"},
            }
        ],
        "problemTitle": "Response time degradation",
    }
    assert oldest["name"] == "delivery" and oldest["state"] == "started"
    assert oldest["time"] == "2024-05-01T12:00:00.000Z"
    assert oldest["stages"] == [
        {
            "name": "dev",
            "image": "docker.io/keptnexamples/carts:0.13.1",
            "state": "succeeded",
            "latestEvaluation": {"result": "pass", "score": 100.0},
            "latestEvent": {
                "type": "sh.keptn.event.dev.delivery.finished",
                "id": "e1",
                "time": "2024-05-01T12:05:00.000Z",
            },
        },
        {
            "name": "staging",
            "state": "triggered",
            "latestEvent": {
                "type": "sh.keptn.event.deployment.triggered",
                "id": "e2",
                "time": "2024-05-01T12:06:00.000Z",
            },
        },
    ]

    async def contexts(**params: str) -> list[str]:
        r = await api.client.get(f"{BASE}/sequence/{project}", params=params)
        assert r.status_code == 200, r.text
        return [s["shkeptncontext"] for s in r.json()["states"]]

    assert await contexts(name="delivery") == [delivery]
    assert await contexts(state="finished") == [remediation]
    assert await contexts(keptnContext=f"{delivery}, {remediation}") == [remediation, delivery]
    assert await contexts(keptnContext=delivery) == [delivery]
    assert await contexts(fromTime="2024-05-01T12:05:00.000Z") == [remediation]
    assert await contexts(beforeTime="2024-05-01T12:05:00.000Z") == [delivery]
    r = await api.client.get(f"{BASE}/sequence/{project}", params={"pageSize": "1"})
    assert r.json()["nextPageKey"] == 1 and r.json()["totalCount"] == 2 and len(r.json()["states"]) == 1
    r = await api.client.get(f"{BASE}/sequence/{project}", params={"pageSize": "1", "nextPageKey": "1"})
    assert "nextPageKey" not in r.json() and r.json()["states"][0]["shkeptncontext"] == delivery
    r = await api.client.get(f"{BASE}/sequence/{project}", params={"pageSize": "x"})
    assert r.json() == {
        "code": 400,
        "message": 'Invalid request format: strconv.ParseInt: parsing "x": invalid syntax',
    }
    # Keptn did not check the project: an unknown one has no sequences.
    r = await api.client.get(f"{BASE}/sequence/{unique_name('nope')}")
    assert (r.status_code, r.json()) == (200, {"states": []})


async def test_sequence_executions(api: Api, database: Database) -> None:
    project = unique_name("proj")
    assert (await api.create_project(project)).status_code == 201
    context = str(uuid.uuid4())
    dev = execution(
        project,
        context,
        "dev",
        0,
        state="started",
        labels={"owner": "me"},
        gitcommitid="c0ffee",
        current_task="deployment",
        current_task_triggered_id="t-2",
        input_properties={"project": project, "stage": "dev", "service": "carts"},
        previous_tasks=[
            {
                "name": "approval",
                "triggeredID": "t-1",
                "result": "pass",
                "status": "succeeded",
                "properties": {},
            }
        ],
        tasks=[{"name": "approval"}, {"name": "deployment"}],
    )
    staging = execution(project, context, "staging", 1, service="orders", sequence="evaluation")
    await seed(database, dev, staging)

    r = await api.client.get(f"{BASE}/sequence-execution", params={"project": project})
    assert r.status_code == 200
    body = r.json()
    assert body["totalCount"] == 2 and body["pageSize"] == 2 and "nextPageKey" not in body
    assert [e["_id"] for e in body["sequenceExecutions"]] == [staging.workflow_id, dev.workflow_id]
    assert body["sequenceExecutions"][1] == {
        "_id": dev.workflow_id,
        "schemaVersion": "1",
        "sequence": {"name": "delivery", "tasks": [{"name": "approval"}, {"name": "deployment"}]},
        "status": {
            "state": "started",
            "stateBeforePause": "",
            "previousTasks": [
                {
                    "name": "approval",
                    "triggeredID": "t-1",
                    "result": "pass",
                    "status": "succeeded",
                    "properties": {},
                }
            ],
            "currentTask": {"name": "deployment", "triggeredID": "t-2", "events": []},
        },
        "scope": {
            "project": project,
            "stage": "dev",
            "service": "carts",
            "labels": {"owner": "me"},
            "keptnContext": context,
            "triggeredId": dev.triggered_id,
            "gitcommitid": "c0ffee",
            "eventType": "sh.keptn.event.dev.delivery.triggered",
        },
        "inputProperties": {"project": project, "stage": "dev", "service": "carts"},
        "triggeredAt": "2024-05-01T12:00:00Z",
    }

    async def ids(**params: str) -> list[str]:
        r = await api.client.get(f"{BASE}/sequence-execution", params={"project": project, **params})
        assert r.status_code == 200, r.text
        return [e["_id"] for e in r.json()["sequenceExecutions"]]

    assert await ids(stage="dev") == [dev.workflow_id]
    assert await ids(service="orders") == [staging.workflow_id]
    assert await ids(name="delivery") == [dev.workflow_id]
    assert await ids(status="triggered") == [staging.workflow_id]
    assert await ids(keptnContext=context) == [staging.workflow_id, dev.workflow_id]
    r = await api.client.get(f"{BASE}/sequence-execution", params={"project": project, "pageSize": "1"})
    assert (r.json()["nextPageKey"], r.json()["pageSize"], r.json()["totalCount"]) == (1, 1, 2)

    r = await api.client.get(f"{BASE}/sequence-execution")
    assert r.json() == {"code": 400, "message": "Invalid request format: project name must not be empty"}
    r = await api.client.get(f"{BASE}/sequence-execution", params={"project": unique_name("nope")})
    assert (r.status_code, r.json()) == (404, {"code": 404, "message": "project not found"})
    r = await api.client.get(f"{BASE}/sequence-execution", params={"project": project, "stage": "prod"})
    assert r.json() == {"sequenceExecutions": []}


def triggered(project: str, type_: str, time: str, stage: str = "dev") -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "shipyard-controller",
        "type": type_,
        "time": time,
        "contenttype": "application/json",
        "shkeptncontext": str(uuid.uuid4()),
        "data": {"project": project, "stage": stage, "service": "carts"},
    }


async def test_open_triggered_events(api: Api, database: Database) -> None:
    project = unique_name("proj")
    assert (await api.create_project(project)).status_code == 201
    repo = TriggeredEventRepository(database)
    kind = f"sh.keptn.event.{unique_name('approval')}.triggered"
    older = triggered(project, kind, "2024-05-01T12:00:00.000Z")
    newer = triggered(project, kind, "2024-05-01T12:01:00.000Z", stage="staging")
    delayed = triggered(project, kind, "2999-01-01T00:00:00.000Z")
    done = triggered(project, kind, "2024-05-01T12:02:00.000Z")
    gone = triggered(unique_name("deleted"), kind, "2024-05-01T12:00:00.000Z")
    for event in (older, newer, delayed, done, gone):
        await repo.open(event, "wf")
    await repo.close(done["id"])

    url = f"{BASE}/event/triggered/{kind}"
    r = await api.client.get(url, params={"project": project})
    assert r.status_code == 200
    assert r.json() == {"events": [newer, older], "nextPageKey": "0", "totalCount": 2}
    r = await api.client.get(url, params={"project": project, "pageSize": "1"})
    assert r.json() == {"events": [newer], "nextPageKey": "1", "totalCount": 2}
    r = await api.client.get(url, params={"project": project, "pageSize": "1", "nextPageKey": "1"})
    assert r.json() == {"events": [older], "nextPageKey": "0", "totalCount": 2}
    r = await api.client.get(url, params={"project": project, "stage": "staging"})
    assert r.json()["events"] == [newer]
    r = await api.client.get(url, params={"project": project, "eventID": older["id"]})
    assert r.json()["events"] == [older]
    r = await api.client.get(url, params={"project": project, "service": "other"})
    assert r.json() == {"events": [], "nextPageKey": "0"}
    # Without a project: every existing project (the deleted project's event is not shown).
    r = await api.client.get(url)
    assert [e["id"] for e in r.json()["events"]] == [newer["id"], older["id"]]
    r = await api.client.get(url, params={"project": unique_name("nope")})
    assert (r.status_code, r.json()) == (404, {"code": 404, "message": "project not found"})
