"""Building blocks for the sequence scenarios: execution-plane services scoped to one project, hand-made task
answers (for scenarios that need exact control over ids, sources and order), the approval-service, an
HTTP-polling executor, and read-backs through the public API.

Executors subscribe by event type only (queue groups, as Keptn's cp-connector), and every test shares one
stack; a subscription therefore filters on its test's project, as a uniform subscription filter does, so
that a sequence left over from another test can never be answered here.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from nats.aio.msg import Msg

from tests.engine.harness import Answer, Executor, Reply, Stack, replying

POLL_S = 0.1


async def eventually(probe: Callable[[], Awaitable[Any]], what: str, timeout_s: float = 20.0) -> Any:
    """Poll `probe` until it returns something truthy; that value is returned."""
    deadline = asyncio.get_running_loop().time() + timeout_s
    last: Any = None
    while True:
        last = await probe()
        if last:
            return last
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}; last saw {last!r}")
        await asyncio.sleep(POLL_S)


class ScopedExecutor(Executor):
    """An executor subscribed with a project filter (cp-connector's event matcher)."""

    def __init__(
        self,
        stack: Stack,
        task: str,
        project: str,
        answer: Answer | None = None,
        *,
        name: str | None = None,
        via_api: bool = False,
    ) -> None:
        super().__init__(stack, task, answer, name=name, via_api=via_api)
        self.project = project

    async def _on_message(self, msg: Msg) -> None:
        event = json.loads(msg.data)
        if (event.get("data") or {}).get("project") == self.project:
            await super()._on_message(msg)

    def stages(self) -> list[str]:
        return [e["data"]["stage"] for e in self.received]


def silent(stack: Stack, task: str, project: str, *, name: str | None = None) -> ScopedExecutor:
    """An executor that receives `.triggered` events but leaves answering to the test."""
    return ScopedExecutor(stack, task, project, replying(None), name=name)


async def _approval_answer(triggered: dict[str, Any]) -> Reply | None:
    """approval-service (BEHAVIOR d.1): the result to approve is the previous task's (`data.result`), else
    the evaluation's; `fail` is declined at once, an `automatic` strategy approves, anything else (manual,
    or no strategy) leaves the sequence waiting for a user after `approval.started`."""
    data = triggered.get("data") or {}
    result = data.get("result") or (data.get("evaluation") or {}).get("result") or ""
    strategy = (data.get("approval") or {}).get(result, "")
    if result == "fail":
        return Reply(result="fail")
    if result in ("pass", "warning") and strategy == "automatic":
        return Reply(result="pass")
    return Reply(finish=False)


def approval_service(stack: Stack, project: str) -> ScopedExecutor:
    return ScopedExecutor(stack, "approval", project, _approval_answer, name="approval-service")


class PollingExecutor(Executor):
    """A remote execution-plane service on Keptn's HTTP event source (cp-connector `eventsource/http`): polls
    GET /event/triggered/<type> with its project/stage/service filter, remembers the ids it has seen, and
    answers through POST /api/v1/event."""

    def __init__(
        self,
        stack: Stack,
        task: str,
        *,
        project: str,
        stage: str | None = None,
        service: str | None = None,
        answer: Answer | None = None,
        interval_s: float = 0.2,
    ) -> None:
        super().__init__(stack, task, answer, via_api=True)
        self.params = {k: v for k, v in (("project", project), ("stage", stage), ("service", service)) if v}
        self.interval_s = interval_s
        self.seen: set[str] = set()
        self.polls = 0
        self._stop = asyncio.Event()
        self._loop: asyncio.Task[None] | None = None

    async def __aenter__(self) -> PollingExecutor:
        self._loop = asyncio.create_task(self._poll())
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._loop is not None:
            await self._loop

    async def _poll(self) -> None:
        path = f"/api/controlPlane/v1/event/triggered/sh.keptn.event.{self.task}.triggered"
        while not self._stop.is_set():
            r = await self.stack.api.get(path, params=self.params)
            assert r.status_code == 200, r.text
            self.polls += 1
            for event in r.json()["events"]:
                if event["id"] not in self.seen:
                    self.seen.add(event["id"])
                    self.received.append(event)
                    await self._respond(event)
            try:
                await asyncio.wait_for(self._stop.wait(), self.interval_s)
            except TimeoutError:
                pass


# ---- hand-made answers --------------------------------------------------------------------------------


def task_event(
    triggered: dict[str, Any],
    kind: str,
    *,
    source: str = "test-executor",
    result: str = "pass",
    status: str = "succeeded",
    event_id: str | None = None,
    **data: Any,
) -> dict[str, Any]:
    """A `<task>.started|finished` CloudEvent answering `triggered`, as an executor would send it."""
    task = triggered["type"].split(".")[3]
    scope = {k: triggered["data"][k] for k in ("project", "stage", "service")}
    body = scope | ({"status": "succeeded"} if kind == "started" else {"result": result, "status": status})
    return {
        "specversion": "1.0",
        "id": event_id or str(uuid.uuid4()),
        "source": source,
        "type": f"sh.keptn.event.{task}.{kind}",
        "shkeptncontext": triggered["shkeptncontext"],
        "triggeredid": triggered["id"],
        "data": body | data,
    }


async def publish(stack: Stack, event: dict[str, Any], *, via_api: bool = False) -> None:
    """Send an event as an execution-plane service does: on core NATS (cp-connector) or via the API."""
    if via_api:
        r = await stack.api.post("/api/v1/event", json=event)
        assert r.status_code == 200, r.text
    else:
        await stack.nc.publish(event["type"], json.dumps(event).encode())
        await stack.nc.flush()


# ---- read-backs through the API ----------------------------------------------------------------------


async def open_triggered(stack: Stack, task: str, **filters: str) -> list[dict[str, Any]]:
    """GET /api/controlPlane/v1/event/triggered/sh.keptn.event.<task>.triggered (Keptn's open events)."""
    r = await stack.api.get(
        f"/api/controlPlane/v1/event/triggered/sh.keptn.event.{task}.triggered",
        params={"pageSize": "100", **filters},
    )
    assert r.status_code == 200, r.text
    return r.json()["events"]


async def state_of(stack: Stack, project: str, context: str) -> str | None:
    states = await stack.sequence_states(project, context)
    return states[0]["state"] if states else None


async def wait_state(stack: Stack, project: str, context: str, state: str, timeout_s: float = 20.0) -> None:
    """Wait until GET /sequence/{project} shows the context in `state`."""
    seen: list[Any] = []

    async def probe() -> bool:
        seen[:] = await stack.sequence_states(project, context)
        return bool(seen) and seen[0]["state"] == state

    try:
        await eventually(probe, f"sequence {context} in state {state}", timeout_s)
    except AssertionError as exc:
        raise AssertionError(
            f"{exc}; GET /sequence: {seen}; executions: {await executions(stack, project, context)}"
        ) from None


async def executions(stack: Stack, project: str, context: str) -> list[dict[str, Any]]:
    r = await stack.api.get(
        "/api/controlPlane/v1/sequence-execution", params={"project": project, "keptnContext": context}
    )
    assert r.status_code == 200, r.text
    return r.json()["sequenceExecutions"]


async def wait_execution_state(
    stack: Stack, project: str, context: str, state: str, timeout_s: float = 20.0
) -> dict[str, Any]:
    async def probe() -> dict[str, Any] | None:
        found = [e for e in await executions(stack, project, context) if e["status"]["state"] == state]
        return found[0] if found else None

    return await eventually(probe, f"an execution of {context} in state {state}", timeout_s)


async def types_of(stack: Stack, project: str, context: str) -> list[str]:
    return [e["type"] for e in await stack.events(project, context)]


def only(events: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(events) == 1, [e["type"] for e in events]
    return events[0]
