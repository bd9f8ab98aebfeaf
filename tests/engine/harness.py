"""The whole control plane in one test process: API (ASGI), worker (Temporal worker + event intake), real
Temporal dev server, real nats-server with JetStream, real database — plus execution-plane test services."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from temporalio.client import Client

from keptn_temporal.settings import Settings
from tests.api.conftest import SHIPYARDS, TOKEN

Answer = Callable[[dict[str, Any]], Awaitable["Reply | None"]]


@dataclass
class Reply:
    """What an executor answers to a `.triggered`: `.started` (always) then `.finished` unless `finish` is
    False (an executor that dies mid-task)."""

    result: str = "pass"
    status: str = "succeeded"
    data: dict[str, Any] = field(default_factory=dict)
    finish: bool = True
    message: str = ""


@dataclass
class Stack:
    api: httpx.AsyncClient
    settings: Settings
    nc: NATS
    temporal: Client

    async def create_project(self, name: str, shipyard: str = "onboarding-carts.shipyard.yaml") -> None:
        """`shipyard` is the YAML itself, or the name of one of Keptn's example shipyards."""
        text = shipyard_text(shipyard)
        r = await self.api.post(
            "/api/controlPlane/v1/project",
            json={"name": name, "shipyard": base64.b64encode(text.encode()).decode()},
        )
        assert r.status_code == 201, r.text

    async def create_service(self, project: str, service: str) -> None:
        r = await self.api.post(
            f"/api/controlPlane/v1/project/{project}/service", json={"serviceName": service}
        )
        assert r.status_code == 200, r.text

    async def trigger(self, project: str, stage: str, sequence: str, service: str, **data: Any) -> str:
        body = {
            "type": f"sh.keptn.event.{stage}.{sequence}.triggered",
            "source": "tests",
            "data": {"project": project, "stage": stage, "service": service, **data},
        }
        r = await self.api.post("/api/v1/event", json=body)
        assert r.status_code == 200, r.text
        return r.json()["keptnContext"]

    async def events(self, project: str, context: str, event_type: str | None = None) -> list[dict[str, Any]]:
        params = {"project": project, "keptnContext": context, "pageSize": "100"}
        if event_type:
            params["type"] = event_type
        r = await self.api.get("/api/mongodb-datastore/event", params=params)
        assert r.status_code == 200, r.text
        return list(reversed(r.json()["events"]))  # oldest first

    async def wait_for(
        self, project: str, context: str, event_type: str, count: int = 1, timeout_s: float = 30.0
    ) -> list[dict[str, Any]]:
        deadline = asyncio.get_running_loop().time() + timeout_s
        while True:
            found = await self.events(project, context, event_type)
            if len(found) >= count:
                return found
            if asyncio.get_running_loop().time() > deadline:
                seen = [e["type"] for e in await self.events(project, context)]
                raise AssertionError(f"no {count}x {event_type} in {timeout_s}s; context has {seen}")
            await asyncio.sleep(0.1)

    async def sequence_states(self, project: str, context: str) -> list[dict[str, Any]]:
        r = await self.api.get(f"/api/controlPlane/v1/sequence/{project}", params={"keptnContext": context})
        assert r.status_code == 200, r.text
        return r.json()["states"]

    async def control(self, project: str, context: str, state: str, stage: str = "") -> httpx.Response:
        return await self.api.post(
            f"/api/controlPlane/v1/sequence/{project}/{context}/control",
            json={"state": state, "stage": stage},
        )

    async def send(
        self, event_type: str, triggered: dict[str, Any], data: dict[str, Any], via_api: bool
    ) -> None:
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "test-executor",
            "type": event_type,
            "shkeptncontext": triggered["shkeptncontext"],
            "triggeredid": triggered["id"],
            "data": data,
        }
        if via_api:
            r = await self.api.post("/api/v1/event", json=event)
            assert r.status_code == 200, r.text
        else:
            # Keptn's cp-connector publishes on core NATS; the KEPTN stream captures it by subject.
            await self.nc.publish(event_type, json.dumps(event).encode())


def shipyard_text(shipyard: str) -> str:
    return (SHIPYARDS / shipyard).read_text() if shipyard.endswith(".yaml") else shipyard


class Executor:
    """An execution-plane service: a core-NATS queue subscriber (as Keptn's cp-connector) on
    `sh.keptn.event.<task>.triggered`, answering `.started` and `.finished` like the go-sdk does."""

    def __init__(
        self,
        stack: Stack,
        task: str,
        answer: Answer | None = None,
        *,
        name: str | None = None,
        via_api: bool = False,
    ) -> None:
        self.stack, self.task, self.via_api = stack, task, via_api
        self.name = name or f"{task}-service"
        self.answer = answer or (lambda _e: _reply(Reply()))
        self.received: list[dict[str, Any]] = []
        self._sub: Any = None

    async def __aenter__(self) -> Executor:
        self._sub = await self.stack.nc.subscribe(
            f"sh.keptn.event.{self.task}.triggered", queue=self.name, cb=self._on_message
        )
        await self.stack.nc.flush()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._sub.unsubscribe()

    async def _on_message(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        self.received.append(event)
        asyncio.get_running_loop().create_task(self._respond(event))

    async def _respond(self, triggered: dict[str, Any]) -> None:
        reply = await self.answer(triggered)
        if reply is None:
            return
        scope = {k: triggered["data"][k] for k in ("project", "stage", "service")}
        await self.stack.send(
            f"sh.keptn.event.{self.task}.started", triggered, scope | {"status": "succeeded"}, self.via_api
        )
        if reply.finish:
            finished = (
                scope
                | {"result": reply.result, "status": reply.status, "message": reply.message}
                | reply.data
            )
            await self.stack.send(f"sh.keptn.event.{self.task}.finished", triggered, finished, self.via_api)


async def _reply(reply: Reply) -> Reply:
    return reply


def replying(reply: Reply | None) -> Answer:
    return lambda _event: _reply(reply)  # type: ignore[arg-type,return-value]


__all__ = ["TOKEN", "Executor", "Reply", "Stack", "replying"]
