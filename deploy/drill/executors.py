"""The drill's execution-plane services, one process per integration:

    python -m deploy.drill.executors --name drill-deployer --task deployment --task release \\
        --project drill-1a2b3c --gateway http://127.0.0.1:8080 --nats nats://127.0.0.1:4222 \\
        --journal drill-deployer.jsonl --via nats        # API token in $DRILL_API_TOKEN

Each one behaves like a Keptn integration on the execution-plane contract of docs/execution-plane.md, option
2: it registers through the gateway (which creates its durable JetStream consumer), pings, pulls
`.triggered` events from the durable, answers `.started` then `.finished` after a random delay — on JetStream
with `Nats-Msg-Id` = CloudEvent id, or via POST /api/v1/event — and acks only once its answers are accepted.

Answer ids are derived from the `.triggered` id, so the answer to a redelivered event (after a kill -9
between publishing and acking) is a duplicate the control plane drops rather than a second answer.
Everything the process does that the verification needs goes to its journal: requests with their outcome,
every event accepted from it, and its `ready` line.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import random
import signal
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import nats
import yaml
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.errors import NotFoundError

from deploy.drill.gateway import Gateway, status_is
from deploy.drill.journal import Journal

STREAM = "KEPTN"
TOKEN_ENV = "DRILL_API_TOKEN"
SOURCE = "https://github.com/keptn/keptn/drill"
ANSWER_NAMESPACE = uuid.UUID("6f1c3c9e-3f7a-4d55-9a43-0d1b8a2f5e61")
PING_INTERVAL_S = 10.0
FETCH_BATCH = 10
# An answer must not be lost: a failing gateway or NATS is retried until the process is stopped.
ANSWER_GIVE_UP_S = 600.0
STOP_GRACE_S = 30.0


@dataclass(frozen=True)
class ExecutorSpec:
    """One drill integration: `role` names it (`<prefix>-<role>`), `via` is how it answers."""

    role: str
    tasks: tuple[str, ...]
    via: str  # "nats" | "api"

    def name(self, prefix: str) -> str:
        return f"{prefix}-{self.role}"


EXECUTORS = (
    ExecutorSpec("deployer", ("deployment", "release"), "nats"),
    ExecutorSpec("tester", ("test",), "api"),
    ExecutorSpec("lighthouse", ("evaluation",), "nats"),
    ExecutorSpec("remediation", ("get-action", "action"), "api"),
    # Answers only `.started`, as Keptn's approval-service does for a manual approval.
    ExecutorSpec("approval", ("approval",), "api"),
)
LIGHTHOUSE = "lighthouse"


def answer_id(triggered_id: str, kind: str) -> str:
    return str(uuid.uuid5(ANSWER_NAMESPACE, f"{triggered_id}/{kind}"))


def task_of(event_type: str) -> str:
    """`sh.keptn.event.<task>.<kind>` -> task; "" for sequence events (`sh.keptn.event.<stage>.<seq>.<kind>`)."""
    parts = event_type.split(".")
    return parts[3] if len(parts) == 5 else ""


def answer(triggered: dict[str, Any], kind: str, data: dict[str, Any]) -> dict[str, Any]:
    scope = {k: triggered["data"][k] for k in ("project", "stage", "service")}
    return {
        "specversion": "1.0",
        "id": answer_id(triggered["id"], kind),
        "source": SOURCE,
        "type": f"sh.keptn.event.{task_of(triggered['type'])}.{kind}",
        "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "contenttype": "application/json",
        "shkeptncontext": triggered["shkeptncontext"],
        "triggeredid": triggered["id"],
        "shkeptnspecversion": "0.2.4",
        "data": scope | data,
    }


def pick_action(remediation: dict[str, Any], problem: dict[str, Any], index: int) -> dict[str, Any] | None:
    """remediation-service's choice: the actions of the problemType equal to the root cause, else to the
    title, else `default`; the one at `index`."""
    by_type = {
        r.get("problemType"): r.get("actionsOnOpen") or [] for r in remediation["spec"]["remediations"]
    }
    for key in (problem.get("rootCause"), problem.get("problemTitle"), "default"):
        if key in by_type:
            actions = by_type[key]
            return actions[index] if index < len(actions) else None
    return None


class JournalSink:
    """Gateway outcomes of an executor, written to its journal for the workload to count."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def add(self, kind: str, t: float, latency_s: float, error: str | None) -> None:
        self.journal.write("request", kind=kind, at=t, latency_s=latency_s, error=error)

    def retry(self, kind: str) -> None:
        self.journal.write("retry", kind=kind)


@dataclass(frozen=True)
class Config:
    name: str
    tasks: tuple[str, ...]
    project: str
    gateway_url: str
    token: str
    nats_url: str
    journal: Path
    via: str
    min_delay_s: float
    max_delay_s: float


class Executor:
    def __init__(self, cfg: Config, journal: Journal) -> None:
        self.cfg = cfg
        self.journal = journal
        self.gateway = Gateway(cfg.gateway_url, cfg.token, JournalSink(journal))
        self.js: JetStreamContext | None = None
        self.integration_id = ""

    # ---- registration ---------------------------------------------------------------------------------

    def registration(self) -> dict[str, Any]:
        """What Keptn's cp-connector registers: identity by name + namespace, one subscription per task."""
        scope = {"projects": [self.cfg.project], "stages": [], "services": []}
        return {
            "name": self.cfg.name,
            "metadata": {
                "hostname": socket.gethostname(),
                "integrationversion": "drill",
                "distributorversion": "drill",
                "location": "control-plane",
                "kubernetesmetadata": {
                    "namespace": "keptn",
                    "podname": f"{self.cfg.name}-{os.getpid()}",
                    "deploymentname": self.cfg.name,
                },
            },
            "subscriptions": [
                {"event": f"sh.keptn.event.{task}.triggered", "filter": scope} for task in self.cfg.tasks
            ],
        }

    async def register(self) -> None:
        r = await self.gateway.call_until_ok(
            "executor:register",
            "POST",
            "/api/controlPlane/v1/uniform/registration",
            check=status_is(200, 201),
            json=self.registration(),
            give_up_after_s=ANSWER_GIVE_UP_S,
        )
        if r is None:
            raise RuntimeError("could not register")
        self.integration_id = r.json()["id"]

    async def bind(self, js: JetStreamContext) -> JetStreamContext.PullSubscription:
        """The durable is created by the API when the integration registers (best effort there): register
        again until it exists."""
        while True:
            try:
                await js.consumer_info(STREAM, self.cfg.name)
                return await js.pull_subscribe_bind(durable=self.cfg.name, stream=STREAM)
            except NotFoundError:
                await asyncio.sleep(1)
                await self.register()
            except nats.errors.Error as exc:
                self.journal.write("bind-error", error=f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(1)

    async def keep_alive(self, stop: asyncio.Event) -> None:
        path = f"/api/controlPlane/v1/uniform/registration/{self.integration_id}/ping"
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), PING_INTERVAL_S)
                return
            except TimeoutError:
                pass
            r = await self.gateway.call("executor:ping", "PUT", path, check=status_is(200, 404))
            if r is not None and r.status_code == 404:  # expired meanwhile: register afresh
                await self.register()
                path = f"/api/controlPlane/v1/uniform/registration/{self.integration_id}/ping"

    # ---- answering ------------------------------------------------------------------------------------

    async def send(self, event: dict[str, Any]) -> None:
        if self.cfg.via == "api":
            r = await self.gateway.call_until_ok(
                "executor:event", "POST", "/api/v1/event", json=event, give_up_after_s=ANSWER_GIVE_UP_S
            )
            if r is None:
                raise RuntimeError(f"event {event['id']} not accepted")
        else:
            await self.publish(event)
        self.journal.write("sent", id=event["id"], type=event["type"], context=event["shkeptncontext"])

    async def publish(self, event: dict[str, Any]) -> None:
        assert self.js is not None
        payload = json.dumps(event).encode()
        deadline = time.monotonic() + ANSWER_GIVE_UP_S
        while True:
            wall, started = time.time(), time.monotonic()
            try:
                await self.js.publish(
                    event["type"], payload, timeout=5, stream=STREAM, headers={"Nats-Msg-Id": event["id"]}
                )
                self.journal.write(
                    "request",
                    kind="executor:publish",
                    at=wall,
                    latency_s=time.monotonic() - started,
                    error=None,
                )
                return
            except (nats.errors.Error, OSError) as exc:
                error = f"publish {event['type']}: {type(exc).__name__}: {exc}"[:300]
                self.journal.write(
                    "request",
                    kind="executor:publish",
                    at=wall,
                    latency_s=time.monotonic() - started,
                    error=error,
                )
                if time.monotonic() > deadline:
                    raise
                self.journal.write("retry", kind="executor:publish")
                await asyncio.sleep(0.5)

    async def finished_data(self, triggered: dict[str, Any]) -> dict[str, Any] | None:
        """The task's `.finished` payload (without the scope); None to leave the task open (manual approval)."""
        task = task_of(triggered["type"])
        data = triggered.get("data") or {}
        ok = {"status": "succeeded", "result": "pass"}
        if task == "approval":
            return None
        if task == "evaluation":
            window = data.get("evaluation") or {}
            evaluation = {"result": "pass", "score": 100, "indicatorResults": []}
            evaluation |= {
                k: window[v] for k, v in (("timeStart", "start"), ("timeEnd", "end")) if v in window
            }
            return ok | {"evaluation": evaluation}
        if task == "get-action":
            return await self.get_action(data)
        return ok | {"message": f"{task} done by {self.cfg.name}"}

    async def get_action(self, data: dict[str, Any]) -> dict[str, Any]:
        path = (
            f"/api/resource-service/v1/project/{data['project']}/stage/{data['stage']}"
            f"/service/{data['service']}/resource/remediation.yaml"
        )
        r = await self.gateway.call_until_ok(
            "executor:resource", "GET", path, give_up_after_s=ANSWER_GIVE_UP_S
        )
        if r is None:
            return {"status": "errored", "result": "fail", "message": "remediation.yaml not readable"}
        remediation = yaml.safe_load(base64.b64decode(r.json()["resourceContent"]))
        index = int((data.get("get-action") or {}).get("actionIndex") or 0)
        action = pick_action(remediation, data.get("problem") or {}, index)
        if action is None:
            return {
                "status": "succeeded",
                "result": "fail",
                "message": f"there is no action with index {index}",
            }
        return {
            "status": "succeeded",
            "result": "pass",
            "action": action,
            "get-action": {"actionIndex": index + 1},
        }

    async def handle(self, msg: Msg) -> None:
        try:
            await self._handle(msg)
        except Exception as exc:  # not acked: the durable redelivers it after its ack wait
            self.journal.write("handler-error", error=f"{type(exc).__name__}: {exc}"[:300])

    async def _handle(self, msg: Msg) -> None:
        triggered = json.loads(msg.data)
        data = triggered.get("data") or {}
        task = task_of(triggered.get("type", ""))
        if data.get("project") != self.cfg.project or task not in self.cfg.tasks:
            await msg.ack()  # another project's event: a subscription filter would not have matched it
            return
        await asyncio.sleep(random.uniform(0.05, 0.3))
        message = "Approval strategy for result '': manual" if task == "approval" else ""
        await self.send(answer(triggered, "started", {"status": "succeeded", "message": message}))
        finished = await self.finished_data(triggered)
        if finished is not None:
            await asyncio.sleep(random.uniform(self.cfg.min_delay_s, self.cfg.max_delay_s))
            await self.send(answer(triggered, "finished", finished))
        await msg.ack()
        self.journal.write(
            "answered",
            triggered=triggered["id"],
            task=task,
            context=triggered["shkeptncontext"],
            deliveries=msg.metadata.num_delivered,
        )

    # ---- the process ----------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        await self.register()
        nc = await nats.connect(
            self.cfg.nats_url, name=self.cfg.name, max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )
        self.js = nc.jetstream(timeout=5)
        sub = await self.bind(self.js)
        self.journal.write("ready", integration_id=self.integration_id)
        pinger = asyncio.create_task(self.keep_alive(stop))
        handlers: set[asyncio.Task[None]] = set()
        parent = os.getppid()
        while not stop.is_set():
            if os.getppid() != parent:  # the workload died without stopping us: do not linger as an orphan
                break
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=1)
            except TimeoutError:
                continue
            except nats.errors.Error as exc:  # e.g. reconnecting: the durable keeps our place
                self.journal.write("fetch-error", error=f"{type(exc).__name__}: {exc}"[:300])
                await asyncio.sleep(0.5)
                continue
            for msg in msgs:
                handler = asyncio.create_task(self.handle(msg))
                handlers.add(handler)
                handler.add_done_callback(handlers.discard)
        # SIGTERM: what was fetched is answered and acked before we go; anything else stays in the durable.
        if handlers:
            await asyncio.wait(handlers, timeout=STOP_GRACE_S)
        pinger.cancel()
        # Not nc.drain(): with a pull subscription it waits out its whole drain timeout. Our answers were
        # confirmed (PubAck / 2xx) already; flush sends the last acks before the connection closes.
        await sub.unsubscribe()
        await nc.flush()
        await nc.close()
        await self.gateway.close()
        self.journal.write("stopped")


def parse_args(argv: list[str] | None = None) -> Config:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.drill.executors", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--name", required=True, help="integration name (also the durable consumer's name)")
    parser.add_argument("--task", action="append", required=True, help="task to answer (repeatable)")
    parser.add_argument("--project", required=True)
    parser.add_argument("--gateway", required=True)
    parser.add_argument("--nats", required=True)
    parser.add_argument("--journal", required=True, type=Path)
    parser.add_argument("--via", choices=("nats", "api"), default="nats")
    parser.add_argument("--min-delay", type=float, default=0.5)
    parser.add_argument("--max-delay", type=float, default=3.0)
    args = parser.parse_args(argv)
    return Config(
        name=args.name,
        tasks=tuple(args.task),
        project=args.project,
        gateway_url=args.gateway,
        token=os.environ[TOKEN_ENV],
        nats_url=args.nats,
        journal=args.journal,
        via=args.via,
        min_delay_s=args.min_delay,
        max_delay_s=args.max_delay,
    )


async def amain(cfg: Config) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    journal = Journal(cfg.journal)
    try:
        await Executor(cfg, journal).run(stop)
    finally:
        journal.close()


def main(argv: list[str] | None = None) -> None:
    asyncio.run(amain(parse_args(argv)))


if __name__ == "__main__":
    main()
