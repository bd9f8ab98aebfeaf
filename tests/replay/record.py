"""Record the replay corpus: histories of real runs of this tree's workflows, which the next releases must
replay (tests/replay/test_replay.py; when to run this: docs/releasing.md).

    .venv/bin/python -m tests.replay.record [--out DIR] [--label LABEL] [--force]        (`make histories`)

A stack of its own, nothing shared with a developer's `make up`: a Temporal dev server, a nats-server and a
SQLite database in a temporary directory, the API in this process, and the worker as production wires it
(`worker.main.run_worker`: versioned, with the patch activation callback), so the histories are the ones a
release writes. One project per scenario is driven through the public API and the event bus, as the engine
tests drive it; then every workflow's history is exported — the finished ones and those still in flight
(waiting on a timer, for an approval, for an executor, for the lane, for a resume).

Files are named `<scenario>__<workflow id>.json`; MANIFEST.json lists each file's workflow type, status
(running | completed) and scenario.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowHistory
from temporalio.converter import decode_typed_search_attributes
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment

import activities
import workflows
from api.app import create_app
from eventbus.connection import connect
from eventbus.stream import ensure_consumer, ensure_stream
from keptn_temporal import versioning
from keptn_temporal.replay import fetch_histories, file_name
from keptn_temporal.search_attributes import KEPTN_PROJECT, KEPTN_SEARCH_ATTRIBUTES
from store.migrate import run_migrations
from tests.engine.conftest import FixedTemporal, engine_settings
from tests.engine.harness import TOKEN, Reply, Stack, replying
from tests.engine.support import (
    ScopedExecutor,
    eventually,
    executions,
    publish,
    task_event,
    wait_execution_state,
    wait_state,
)
from tests.fixtures.servers import run_nats_server, venv_binary
from tests.replay import HISTORIES, MANIFEST, status, workflow_names, workflow_type
from worker.main import run_worker, wire_engine
from worker.resources import WorkerResources
from worker.routing import SequenceRouter
from workflows.health import ping_control_plane
from workflows.lane import IDLE_TIMEOUT, LaneWorkflow
from workflows.messages import sequence_workflow_id

SERVICE = "carts"
TASK_QUEUE = "keptn-control-plane"  # production's default: the histories name it
# Short enough that the timeout scenarios end in seconds; they are triggered while these apply, alone.
SHORT_TIMEOUTS = {"task_started_wait_s": 2.0, "task_finished_wait_s": 2.0}
PASS = Reply()
EVALUATION_PASS = Reply(data={"evaluation": {"result": "pass", "score": 100}})

log = logging.getLogger("record")


# ---- the stack --------------------------------------------------------------------------------------------


@dataclass
class Driver:
    """What the scenarios drive: the API and bus (`stack`), and the router (its timeouts can be swapped)."""

    stack: Stack
    router: SequenceRouter

    @property
    def client(self) -> Client:
        return self.stack.temporal

    @contextlib.asynccontextmanager
    async def executors(
        self, project: str, replies: dict[str, Reply | None]
    ) -> AsyncIterator[dict[str, ScopedExecutor]]:
        """One execution-plane service per task; a None reply leaves answering to the scenario. Queue groups are
        per project: scenarios run concurrently, and a shared group would hand an event to another project's
        service, which drops it."""
        async with contextlib.AsyncExitStack() as exits:
            found = {
                task: await exits.enter_async_context(
                    ScopedExecutor(self.stack, task, project, replying(reply), name=f"{task}-{project}")
                )
                for task, reply in replies.items()
            }
            yield found

    @contextlib.contextmanager
    def timeouts(self, **waits: float) -> Iterator[None]:
        """The router copies the task timeouts into each sequence it starts (as tests/engine/test_timeouts.py)."""
        saved = self.router.settings
        self.router.settings = dataclasses.replace(saved, **waits)
        try:
            yield
        finally:
            self.router.settings = saved

    async def trigger(self, project: str, sequence: str, stage: str = "dev", **data: Any) -> str:
        return await self.stack.trigger(project, stage, sequence, SERVICE, **data)

    async def finished(self, project: str, context: str, stage_sequence: str) -> None:
        await self.stack.wait_for(project, context, f"sh.keptn.event.{stage_sequence}.finished", timeout_s=30)

    async def control(self, project: str, context: str, state: str) -> None:
        r = await self.stack.control(project, context, state)
        assert r.status_code == 200, r.text

    async def answer(self, triggered: dict[str, Any], *, finish: bool = True) -> None:
        await publish(self.stack, task_event(triggered, "started"))
        if finish:
            await publish(self.stack, task_event(triggered, "finished"))

    async def tasks_done(self, project: str, context: str, count: int) -> None:
        async def probe() -> bool:
            found = await executions(self.stack, project, context)
            return bool(found) and len(found[0]["status"]["previousTasks"]) >= count

        await eventually(probe, f"{count} task(s) of {context} done")

    async def workflow_id(self, project: str, context: str, stage_sequence: str) -> str:
        stage, sequence = stage_sequence.split(".", 1)
        [trigger] = await self.stack.events(project, context, f"sh.keptn.event.{stage_sequence}.triggered")
        return sequence_workflow_id(context, stage, sequence, trigger["id"])


async def received(executor: ScopedExecutor, context: str) -> dict[str, Any]:
    """The `.triggered` the executor got in `context` (the first, if several)."""

    async def probe() -> dict[str, Any] | None:
        return next((e for e in executor.received if e["shkeptncontext"] == context), None)

    return await eventually(probe, f"{executor.task}.triggered in {context}")


@contextlib.asynccontextmanager
async def recording_stack(tmp: Path) -> AsyncIterator[Driver]:
    """Dev server, nats-server, migrated SQLite, API and worker — torn down in reverse order."""
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=venv_binary("temporal"),
        search_attributes=KEPTN_SEARCH_ATTRIBUTES,
        ui=False,
        dev_server_log_level="error",
    )
    try:
        (tmp / "nats").mkdir()
        with run_nats_server(tmp / "nats") as nats_url:
            database_url = f"sqlite+aiosqlite:///{tmp / 'keptn.db'}"
            run_migrations(database_url)
            settings = dataclasses.replace(
                engine_settings(database_url, nats_url, env.client, tmp / "data"),
                task_queue=TASK_QUEUE,
                worker_promote="never",
            )
            client = env.client
            nc = await connect(nats_url, "replay-recorder")
            await ensure_stream(nc.jetstream(), settings)
            await ensure_consumer(nc.jetstream(), settings)
            resources = await WorkerResources.open(settings)
            engine = wire_engine(settings, resources, client)
            stop = asyncio.Event()
            worker = asyncio.create_task(
                run_worker(
                    settings,
                    workflows=workflows.ALL_WORKFLOWS,
                    activities=[*activities.ALL_ACTIVITIES, *engine.activities.all()],
                    stop=stop,
                    client=client,
                )
            )
            intake_task = asyncio.create_task(engine.intake.run(stop))
            app = create_app(settings)
            app.state.temporal = FixedTemporal(client)
            try:
                await make_current(client)
                async with (
                    app.router.lifespan_context(app),
                    httpx.AsyncClient(
                        transport=httpx.ASGITransport(app=app),
                        base_url="http://keptn.test",
                        headers={"x-token": TOKEN},
                        timeout=30,
                    ) as api,
                ):
                    yield Driver(Stack(api=api, settings=settings, nc=nc, temporal=client), engine.router)
            finally:
                stop.set()
                await asyncio.gather(worker, intake_task)
                await resources.close()
                await nc.close()
    finally:
        await env.shutdown()


async def make_current(client: Client, timeout_s: float = 60.0) -> None:
    """New workflows wait until a build is current. The recorder promotes the worker's build itself, with the
    worker's own promotion off: the server rate-limits a deployment's RPCs, and a second caller polling it
    could make the worker's single attempt fail."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            await versioning.set_current(client, versioning.build_id(), timeout_s=timeout_s)
            return
        except RPCError as exc:
            if exc.status != RPCStatusCode.RESOURCE_EXHAUSTED or time.monotonic() > deadline:
                raise
        await asyncio.sleep(1.0)


# ---- scenarios ----------------------------------------------------------------------------------------------

HEADER = """apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata: {name: replay-corpus}
spec:
  stages:
"""


def shipyard(stages: str) -> str:
    return HEADER + stages


# dev.delivery: deploy, then release; the scenarios that only need "a task to hold" use it.
TWO_TASKS = shipyard("""\
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment, properties: {deploymentstrategy: direct}}, {name: release}]
""")


async def delivery(d: Driver, p: str) -> None:
    """Three tasks, all passing."""
    async with d.executors(p, {"deployment": PASS, "test": PASS, "release": PASS}):
        context = await d.trigger(p, "delivery", configurationChange={"values": {"image": "carts:1"}})
        await d.finished(p, context, "dev.delivery")


async def rollback(d: Driver, p: str) -> None:
    """A failed task ends the sequence with result fail, which triggers the rollback (triggeredOn)."""
    async with d.executors(p, {"deployment": Reply(result="fail"), "test": PASS, "rollback": PASS}):
        context = await d.trigger(p, "delivery")
        await d.finished(p, context, "dev.rollback")


async def promotion(d: Driver, p: str) -> None:
    """dev's delivery, then staging's through `triggeredOn`."""
    async with d.executors(p, {"deployment": PASS, "release": PASS}):
        context = await d.trigger(p, "delivery")
        await d.finished(p, context, "staging.delivery")


async def evaluation(d: Driver, p: str) -> None:
    """`keptn trigger evaluation`: the stage's built-in evaluation sequence."""
    async with d.executors(p, {"evaluation": EVALUATION_PASS}):
        r = await d.stack.api.post(
            f"/api/controlPlane/v1/project/{p}/stage/dev/service/{SERVICE}/evaluation",
            json={"timeframe": "5m"},
        )
        assert r.status_code == 200, r.text
        await d.finished(p, r.json()["keptnContext"], "dev.evaluation")


async def remediation(d: Driver, p: str) -> None:
    """get-action, action, then the evaluation after a (short) triggeredAfter: a durable timer that fired."""
    replies = {
        "get-action": Reply(data={"getAction": {"action": "scale", "actionIndex": 0}}),
        "action": PASS,
        "evaluation": EVALUATION_PASS,
    }
    async with d.executors(p, replies):
        problem = {"problemTitle": "response time degradation", "rootCause": "cpu"}
        context = await d.trigger(p, "remediation", stage="production", problem=problem)
        await d.finished(p, context, "production.remediation")


async def timeout_started(d: Driver, p: str) -> None:
    """Nobody answers the task: the sequence times out (TASK_STARTED_WAIT_DURATION)."""
    async with d.executors(p, {"deployment": None}):
        context = await d.trigger(p, "delivery")
        await d.finished(p, context, "dev.delivery")


async def timeout_finished(d: Driver, p: str) -> None:
    """The task started but never finished (TASK_FINISHED_WAIT_DURATION)."""
    async with d.executors(p, {"deployment": None}) as services:
        context = await d.trigger(p, "delivery")
        await d.answer(await received(services["deployment"], context), finish=False)
        await d.finished(p, context, "dev.delivery")


async def pause_resume(d: Driver, p: str) -> None:
    """Paused while a task runs (its answers are taken), resumed before the next task."""
    async with d.executors(p, {"deployment": None, "release": PASS}) as services:
        context = await d.trigger(p, "delivery")
        await _pause_after_first_task(d, p, context, services["deployment"])
        await d.control(p, context, "resume")
        await d.finished(p, context, "dev.delivery")


async def _pause_after_first_task(d: Driver, p: str, context: str, deployment: ScopedExecutor) -> None:
    triggered = await received(deployment, context)
    await publish(d.stack, task_event(triggered, "started"))
    await d.control(p, context, "pause")
    await wait_state(d.stack, p, context, "paused")
    await publish(d.stack, task_event(triggered, "finished"))
    await d.tasks_done(p, context, 1)


async def abort(d: Driver, p: str) -> None:
    """Aborted while its task runs."""
    async with d.executors(p, {"deployment": None}) as services:
        context = await d.trigger(p, "delivery")
        await received(services["deployment"], context)
        await d.control(p, context, "abort")
        await d.finished(p, context, "dev.delivery")


async def _one_holds_one_waits(d: Driver, p: str, deployment: ScopedExecutor) -> tuple[str, str]:
    """Two sequences of one service: the first holds the lane with its task open, the second is queued."""
    first = await d.trigger(p, "delivery")
    await received(deployment, first)
    second = await d.trigger(p, "delivery")
    await wait_state(d.stack, p, second, "waiting")
    return first, second


async def queue(d: Driver, p: str) -> None:
    """The lane hands over from the first sequence to the second, then idles and closes."""
    async with d.executors(p, {"deployment": None, "release": PASS}) as services:
        first, second = await _one_holds_one_waits(d, p, services["deployment"])
        await d.answer(await received(services["deployment"], first))
        await d.finished(p, first, "dev.delivery")
        await d.answer(await received(services["deployment"], second))
        await d.finished(p, second, "dev.delivery")


async def abort_queued(d: Driver, p: str) -> None:
    """The queued sequence is aborted (it leaves the lane's queue without running a task)."""
    async with d.executors(p, {"deployment": None, "release": PASS}) as services:
        first, second = await _one_holds_one_waits(d, p, services["deployment"])
        await d.control(p, second, "abort")
        await d.finished(p, second, "dev.delivery")
        await d.answer(await received(services["deployment"], first))
        await d.finished(p, first, "dev.delivery")


APPROVAL = shipyard("""\
    - name: dev
      sequences:
        - name: delivery
          tasks:
            - {name: approval, properties: {pass: manual, warning: manual}}
            - {name: deployment}
            - {name: release}
""")


async def _waiting_for_approval(d: Driver, p: str, approval: ScopedExecutor) -> tuple[str, dict[str, Any]]:
    """approval-service acknowledges, a human has yet to decide; the lane is free meanwhile."""
    context = await d.trigger(p, "delivery")
    triggered = await received(approval, context)
    await d.answer(triggered, finish=False)
    await wait_execution_state(d.stack, p, context, "waitingForApproval")
    return context, triggered


async def approval(d: Driver, p: str) -> None:
    """A manual approval granted through the API: the lane is given back meanwhile and taken again."""
    async with d.executors(p, {"approval": None, "deployment": PASS, "release": PASS}) as services:
        context, triggered = await _waiting_for_approval(d, p, services["approval"])
        await publish(d.stack, task_event(triggered, "finished", source="bridge"), via_api=True)
        await d.finished(p, context, "dev.delivery")


async def start_error(d: Driver, p: str) -> None:
    """A sequence the shipyard does not have finishes errored at once, without tasks or lane."""
    context = await d.trigger(p, "nosuch")
    await d.finished(p, context, "dev.nosuch")


async def ping(d: Driver, p: str) -> None:
    """`ControlPlanePing`, the health check."""
    await ping_control_plane(d.client, TASK_QUEUE, requested_by="replay-recorder")


async def inflight_timer(d: Driver, p: str) -> None:
    """Waiting on a one-hour `triggeredAfter` timer before its second task."""
    async with d.executors(p, {"deployment": PASS}):
        context = await d.trigger(p, "delivery")
        await d.stack.wait_for(p, context, "sh.keptn.event.deployment.finished")  # the sequence runs
        handle = d.client.get_workflow_handle(await d.workflow_id(p, context, "dev.delivery"))

        async def timer_started() -> bool:
            events = [e async for e in handle.fetch_history_events()]
            return any(
                e.event_type == EventType.EVENT_TYPE_TIMER_STARTED
                and e.timer_started_event_attributes.start_to_fire_timeout.ToTimedelta() == timedelta(hours=1)
                for e in events
            )

        await eventually(timer_started, "the triggeredAfter timer")


async def inflight_approval(d: Driver, p: str) -> None:
    """Waiting for a human's decision; approval-service has acknowledged."""
    async with d.executors(p, {"approval": None}) as services:
        await _waiting_for_approval(d, p, services["approval"])


async def inflight_task(d: Driver, p: str) -> None:
    """A task's `.triggered` is out and nobody has answered yet."""
    async with d.executors(p, {"deployment": None}) as services:
        await received(services["deployment"], await d.trigger(p, "delivery"))


async def inflight_queued(d: Driver, p: str) -> None:
    """A sequence queued behind another that holds the lane (and the lane, open, with both)."""
    async with d.executors(p, {"deployment": None}) as services:
        await _one_holds_one_waits(d, p, services["deployment"])


async def inflight_paused(d: Driver, p: str) -> None:
    """Paused after its first task, waiting for the resume."""
    async with d.executors(p, {"deployment": None}) as services:
        context = await d.trigger(p, "delivery")
        await _pause_after_first_task(d, p, context, services["deployment"])


Drive = Callable[[Driver, str], Awaitable[None]]


@dataclass(frozen=True)
class Scenario:
    name: str  # also its project's name: every history is traced back to its scenario by the project
    drive: Drive
    shipyard: str | None = TWO_TASKS  # None: no project (the ping)
    in_flight: bool = False  # exported while its sequences still run
    timeouts: bool = False  # triggered while SHORT_TIMEOUTS apply


SCENARIOS: list[Scenario] = [
    Scenario(
        "delivery",
        delivery,
        shipyard("""\
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment, properties: {deploymentstrategy: direct}}, {name: test}, {name: release}]
"""),
    ),
    Scenario(
        "rollback",
        rollback,
        shipyard("""\
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment}, {name: test}]
        - name: rollback
          triggeredOn: [{event: dev.delivery.finished, selector: {match: {result: fail}}}]
          tasks: [{name: rollback}]
"""),
    ),
    Scenario(
        "promotion",
        promotion,
        TWO_TASKS
        + """\
    - name: staging
      sequences:
        - name: delivery
          triggeredOn: [{event: dev.delivery.finished}]
          tasks: [{name: deployment, properties: {deploymentstrategy: blue_green_service}}, {name: release}]
""",
    ),
    Scenario("evaluation", evaluation),
    Scenario(
        "remediation",
        remediation,
        shipyard("""\
    - name: production
      sequences:
        - name: remediation
          tasks:
            - {name: get-action}
            - {name: action}
            - {name: evaluation, triggeredAfter: 2s, properties: {timeframe: 5m}}
"""),
    ),
    Scenario("timeout-started", timeout_started, timeouts=True),
    Scenario("timeout-finished", timeout_finished, timeouts=True),
    Scenario("pause-resume", pause_resume),
    Scenario("abort", abort),
    Scenario("queue", queue),
    Scenario("abort-queued", abort_queued),
    Scenario("approval", approval, APPROVAL),
    Scenario("start-error", start_error),
    Scenario("ping", ping, shipyard=None),
    Scenario(
        "inflight-timer",
        inflight_timer,
        shipyard("""\
    - name: dev
      sequences:
        - name: delivery
          tasks: [{name: deployment}, {name: test, triggeredAfter: 1h}]
"""),
        in_flight=True,
    ),
    Scenario("inflight-approval", inflight_approval, APPROVAL, in_flight=True),
    Scenario("inflight-task", inflight_task, in_flight=True),
    Scenario("inflight-queued", inflight_queued, in_flight=True),
    Scenario("inflight-paused", inflight_paused, in_flight=True),
]


async def _run(d: Driver, scenario: Scenario) -> None:
    started = time.monotonic()
    try:
        await scenario.drive(d, scenario.name)
    except Exception as exc:
        raise RuntimeError(f"scenario {scenario.name} failed: {exc}") from exc
    log.info("%s: %.1fs", scenario.name, time.monotonic() - started)


async def drive_all(d: Driver, scenarios: list[Scenario]) -> None:
    for s in scenarios:
        if s.shipyard is not None:
            await d.stack.create_project(s.name, s.shipyard)
            await d.stack.create_service(s.name, SERVICE)
    # The timeout scenarios first and alone: the router's timeouts are swapped while they are triggered.
    with d.timeouts(**SHORT_TIMEOUTS):
        await _run_concurrently(d, [s for s in scenarios if s.timeouts])
    await _run_concurrently(d, [s for s in scenarios if not s.timeouts])


async def _run_concurrently(d: Driver, scenarios: list[Scenario]) -> None:
    async with asyncio.TaskGroup() as group:  # one failing cancels the others
        for s in scenarios:
            group.create_task(_run(d, s))


async def settle_lanes(client: Client) -> None:
    """Wait until every lane that nobody holds has idle-closed, so that finished scenarios export a closed
    lane and the run's outcome does not depend on timing. Takes the lane's idle timeout (a minute)."""

    async def idle_lanes() -> list[str]:
        idle = []
        async for execution in client.list_workflows('WorkflowType="Lane" AND ExecutionStatus="Running"'):
            state = await client.get_workflow_handle(execution.id).query(LaneWorkflow.status)
            if state.holder is None:
                idle.append(execution.id)
        return idle

    async def settled() -> bool:
        return not await idle_lanes()

    await eventually(settled, "idle lanes to close", timeout_s=IDLE_TIMEOUT.total_seconds() + 60)


# ---- export ------------------------------------------------------------------------------------------------


def scenario_of(history: WorkflowHistory) -> str:
    kind = workflow_type(history)
    if kind == "Sequence":
        started = history.events[0].workflow_execution_started_event_attributes
        project = decode_typed_search_attributes(started.search_attributes).get(KEPTN_PROJECT)
        if project:
            return project
    elif kind == "Lane":
        return history.workflow_id.split("/")[1]  # lane/<project>/<stage>/<service>
    elif kind == "ControlPlanePing":
        return "ping"
    raise RuntimeError(f"cannot tell the scenario of {kind} {history.workflow_id}")


def check(manifest: dict[str, dict[str, str]], scenarios: list[Scenario]) -> None:
    """The corpus is what the scenarios promise: all types, finished ones finished, in-flight ones running."""
    missing = workflow_names(workflows.ALL_WORKFLOWS) - {f["workflow_type"] for f in manifest.values()}
    problems = [f"no history of {sorted(missing)}"] if missing else []
    for s in scenarios:
        files = [f for f in manifest.values() if f["scenario"] == s.name]
        running = [f for f in files if f["status"] == "running"]
        if not files:
            problems.append(f"{s.name}: no history")
        elif s.in_flight and not any(f["workflow_type"] == "Sequence" for f in running):
            problems.append(f"{s.name}: no sequence in flight")
        elif not s.in_flight and running:
            problems.append(f"{s.name}: {[f['workflow_id'] for f in running]} still running")
    if problems:
        raise RuntimeError("; ".join(problems))


def git_revision() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            check=True,
        )
    except (OSError, subprocess.CalledProcessError):
        return ""
    return out.stdout.strip()


def write_corpus(
    out: Path, label: str, histories: list[WorkflowHistory], scenarios: list[Scenario]
) -> dict[str, Any]:
    """Check the histories against the scenarios, then replace `out`'s histories with them and a manifest."""
    named = {f"{scenario_of(h)}__{file_name(h.workflow_id)}": h for h in histories}
    files = {
        name: {
            "workflow_type": workflow_type(h),
            "status": status(h),
            "scenario": scenario_of(h),
            "workflow_id": h.workflow_id,
        }
        for name, h in sorted(named.items())
    }
    check(files, scenarios)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    for name, history in named.items():
        (out / name).write_text(history.to_json())
    manifest = {
        "label": label,
        "build_id": versioning.build_id(),
        "git_revision": git_revision(),
        "recorded_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "temporalio": version("temporalio"),
        "scenarios": {s.name: (s.drive.__doc__ or "").split("\n")[0].strip() for s in scenarios},
        "files": files,
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


# ---- command line ----------------------------------------------------------------------------------------


def default_label() -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "_", versioning.build_id())


async def record(scenarios: list[Scenario]) -> list[WorkflowHistory]:
    with tempfile.TemporaryDirectory(prefix="keptn-replay-") as tmp:
        async with recording_stack(Path(tmp)) as driver:
            started = time.monotonic()
            await drive_all(driver, scenarios)
            log.info("scenarios driven in %.0fs; waiting for idle lanes to close", time.monotonic() - started)
            await settle_lanes(driver.client)
            # The server is ours: everything on it is the corpus.
            return await fetch_histories(driver.client, "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.replay.record", description=__doc__.split("\n")[0])
    parser.add_argument("--label", default=default_label(), help="the corpus's name (default: this build id)")
    parser.add_argument("--out", type=Path, help="directory to write (default: tests/replay/histories/LABEL)")
    parser.add_argument("--force", action="store_true", help="replace the histories already in --out")
    args = parser.parse_args(argv)
    out: Path = args.out or HISTORIES / args.label
    if out.exists() and any(out.iterdir()) and not args.force:
        parser.error(f"{out} is not empty (--force replaces its histories)")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    log.setLevel(logging.INFO)
    started = time.monotonic()
    manifest = write_corpus(out, args.label, asyncio.run(record(SCENARIOS)), SCENARIOS)
    counts = Counter(f"{f['workflow_type']} {f['status']}" for f in manifest["files"].values())
    print(json.dumps({"out": str(out), "seconds": round(time.monotonic() - started), "histories": counts}))
    return 0


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)  # the Temporal SDK can crash during interpreter finalization (notes/temporal.md 4.3)
