"""`triggeredAfter: 15m` on Temporal's time-skipping test server, with the worker killed (-9) during the wait
and again during the delayed task: a new worker finishes the sequence, nothing is lost or sent twice."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from collections.abc import AsyncIterator
from datetime import timedelta

import httpx
import pytest
import pytest_asyncio
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.api.testservice.v1 import SleepRequest
from temporalio.testing import WorkflowEnvironment

from api.app import create_app
from eventbus.connection import connect
from eventbus.stream import ensure_consumer, ensure_stream
from keptn.events import parse_keptn_time
from keptn_temporal.search_attributes import KEPTN_SEARCH_ATTRIBUTES
from tests.engine.conftest import FixedTemporal, engine_settings
from tests.engine.harness import TOKEN, Executor, Reply, Stack, replying
from tests.fixtures.databases import unique_name
from tests.fixtures.servers import run_nats_server, subprocess_env, venv_binary
from workflows.messages import sequence_workflow_id

SHIPYARD = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: timers}
spec:
  stages:
    - name: production
      sequences:
        - name: remediation
          tasks:
            - name: action
            - name: evaluation
              triggeredAfter: 15m
              properties: {timeframe: 15m}
"""


@pytest_asyncio.fixture(loop_scope="session")
async def skipping_stack(
    database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Stack, WorkflowEnvironment]]:
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=venv_binary("temporal-test-server")
    )
    try:
        keyword = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=env.client.namespace,
                search_attributes={k.name: keyword for k in KEPTN_SEARCH_ATTRIBUTES},
            )
        )
        with run_nats_server(tmp_path_factory.mktemp("timer-nats")) as nats_url:
            settings = engine_settings(database_url, nats_url, env.client, tmp_path_factory.mktemp("timers"))
            nc = await connect(nats_url, "timer-tests")
            await ensure_stream(nc.jetstream(), settings)
            await ensure_consumer(nc.jetstream(), settings)
            app = create_app(settings)
            app.state.temporal = FixedTemporal(env.client)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with httpx.AsyncClient(
                    transport=transport, base_url="http://keptn.test", headers={"x-token": TOKEN}, timeout=30
                ) as api:
                    yield Stack(api=api, settings=settings, nc=nc, temporal=env.client), env
            await nc.close()
    finally:
        await env.shutdown()


async def start_worker(stack: Stack) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "keptn_temporal.cli",
        "worker",
        # The Java time-skipping server knows no Worker Deployments.
        env=subprocess_env(
            stack.settings, KEPTN_WORKER_CACHED_WORKFLOWS="0", KEPTN_WORKER_VERSIONING="false"
        ),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def kill9(proc: asyncio.subprocess.Process) -> None:
    proc.send_signal(signal.SIGKILL)
    await proc.wait()


async def until(predicate, timeout_s: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout_s
    while not await predicate():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


async def timer_started(stack: Stack, env: WorkflowEnvironment, project: str, context: str) -> bool:
    trigger = (await stack.events(project, context, "sh.keptn.event.production.remediation.triggered"))[0]
    workflow_id = sequence_workflow_id(context, "production", "remediation", trigger["id"])
    async for event in env.client.get_workflow_handle(workflow_id).fetch_history_events():
        if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
            # The 15-minute triggeredAfter timer, not a task's response timeout.
            timeout = event.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            if timeout == timedelta(minutes=15):
                return True
    return False


async def skip_time(env: WorkflowEnvironment, duration: timedelta) -> None:
    """env.sleep() with a longer RPC deadline: the skip waits, in real time, for the workflow and activity
    tasks the timer causes to be done by the freshly started worker."""
    request = SleepRequest()
    request.duration.FromTimedelta(duration)
    await env.client.test_service.unlock_time_skipping_with_sleep(request, timeout=timedelta(minutes=2))


async def test_triggered_after_15m_survives_kill_9_during_wait_and_task(
    skipping_stack: tuple[Stack, WorkflowEnvironment],
) -> None:
    stack, env = skipping_stack
    project = unique_name("timer")
    await stack.create_project(project, SHIPYARD)
    await stack.create_service(project, "carts")
    workers = [await start_worker(stack)]
    evaluation_started = asyncio.Event()
    release_evaluation = asyncio.Event()

    async def evaluate(triggered: dict) -> None:  # type: ignore[type-arg]
        # .started at once; .finished only after the worker was killed once more.
        scope = {k: triggered["data"][k] for k in ("project", "stage", "service")}
        await stack.send(
            "sh.keptn.event.evaluation.started", triggered, scope | {"status": "succeeded"}, False
        )
        evaluation_started.set()
        await release_evaluation.wait()
        finished = scope | {
            "result": "pass",
            "status": "succeeded",
            "evaluation": {"result": "pass", "score": 100},
        }
        await stack.send("sh.keptn.event.evaluation.finished", triggered, finished, False)

    async def on_evaluation(msg) -> None:  # type: ignore[no-untyped-def]
        asyncio.get_running_loop().create_task(evaluate(json.loads(msg.data)))

    evaluation_sub = await stack.nc.subscribe(
        "sh.keptn.event.evaluation.triggered", queue="lighthouse", cb=on_evaluation
    )
    try:
        async with Executor(stack, "action", replying(Reply())):
            context = await stack.trigger(
                project,
                "production",
                "remediation",
                "carts",
                problem={"problemTitle": "cpu", "rootCause": "cpu"},
            )
            await stack.wait_for(project, context, "sh.keptn.event.action.finished")
            await until(lambda: timer_started(stack, env, project, context))
            await kill9(workers.pop())  # killed while the sequence waits on its 15-minute timer
            workers.append(await start_worker(stack))
            assert not await stack.events(project, context, "sh.keptn.event.evaluation.triggered")

            await skip_time(env, timedelta(minutes=15))
            await asyncio.wait_for(evaluation_started.wait(), 30)
            await stack.wait_for(project, context, "sh.keptn.event.evaluation.started")
            await kill9(workers.pop())  # killed while the delayed task runs
            workers.append(await start_worker(stack))
            release_evaluation.set()
            finished = await stack.wait_for(
                project, context, "sh.keptn.event.production.remediation.finished", timeout_s=60
            )
    finally:
        await evaluation_sub.unsubscribe()
        for proc in workers:
            await kill9(proc)

    assert finished[0]["data"]["result"] == "pass"
    events = await stack.events(project, context)
    types = [e["type"] for e in events]
    assert types.count("sh.keptn.event.action.triggered") == 1
    assert types.count("sh.keptn.event.evaluation.triggered") == 1
    assert types.count("sh.keptn.event.production.remediation.finished") == 1
    action = next(e for e in events if e["type"] == "sh.keptn.event.action.triggered")
    evaluation = next(e for e in events if e["type"] == "sh.keptn.event.evaluation.triggered")
    delay = parse_keptn_time(evaluation["time"]) - parse_keptn_time(action["time"])
    assert timedelta(minutes=15) <= delay < timedelta(minutes=16)
    assert evaluation["data"]["evaluation"]["timeframe"] == "15m"
