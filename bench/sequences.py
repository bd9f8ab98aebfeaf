"""Sequence throughput and task-transition latency of keptn-temporal, against bare Temporal on the same server.

    .venv/bin/python bench/sequences.py [--sequences 200] [--services 10] [--concurrency 10] [--json out.json]

What it does (see bench/README.md for what the numbers mean):

1. starts `<venv>/bin/keptn-temporal up` in a fresh temp data dir on free 127.0.0.1 ports, and always stops it;
2. creates a project whose one stage has a `bench` sequence of tasks a, b, c, and S services;
3. answers every `sh.keptn.event.{a,b,c}.triggered` at once with `.started` + `.finished` on core NATS, as an
   execution-plane service behind Keptn's cp-connector would;
4. triggers N sequences through POST /api/v1/event (round-robin over the services, bounded concurrency) and
   waits for all N `sh.keptn.event.dev.bench.finished`;
5. runs the baseline: N bare Temporal workflows with as many trivial activities as one Sequence workflow
   executed (counted from a sample history), on the same dev server, with an in-process worker;
6. prints a report and optionally writes it as JSON.

All timestamps are `time.perf_counter()` in this one process, so latencies need no clock sync. They include
this process's own event-loop scheduling (well under a millisecond when idle, more at high concurrency).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import httpx
import nats
from baseline_workflow import STEP_TIMES, BaselineWorkflow, bench_step
from nats.aio.client import Client as NATS
from nats.aio.msg import Msg
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

PROJECT = "bench"
STAGE = "dev"
SEQUENCE = "bench"
TASKS = ("a", "b", "c")
SHIPYARD = f"""apiVersion: spec.keptn.sh/0.2.3
kind: Shipyard
metadata:
  name: {PROJECT}
spec:
  stages:
    - name: {STAGE}
      sequences:
        - name: {SEQUENCE}
          tasks: [{", ".join(f"{{name: {t}}}" for t in TASKS)}]
"""
SYSTEM_NATS_PORT = 4222  # a system NATS may listen there; the bench must never talk to it
READY_TIMEOUT_S = 180.0
STOP_TIMEOUT_S = (
    120.0  # `up` stops the API (drains up to 30 s) and the worker (grace 30 s) one after the other
)
UP_BANNER = "keptn-temporal is up"


class BenchError(RuntimeError):
    pass


# ---- the embedded stack -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ports:
    api: int
    temporal: int
    temporal_ui: int
    nats: int


def free_ports(count: int) -> list[int]:
    """Distinct free ports on 127.0.0.1. All sockets are held open until every port is chosen, so the kernel
    never hands out the same port twice; the short window until `up` binds them is an accepted race."""
    sockets: list[socket.socket] = []
    try:
        ports: list[int] = []
        while len(ports) < count:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
            if port != SYSTEM_NATS_PORT:
                ports.append(port)
        return ports
    finally:
        for sock in sockets:
            sock.close()


class EmbeddedStack:
    """`keptn-temporal up` as a child process in its own session.

    Its own session keeps a terminal Ctrl-C away from it: `up` treats a second signal more than a second
    after the first as "kill everything now", so it must get exactly one SIGTERM, from us."""

    def __init__(self, data_dir: Path, ports: Ports) -> None:
        self.data_dir = data_dir
        self.ports = ports
        self.log_path = data_dir / "up.log"
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports.api}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.ports.nats}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.ports.temporal}"

    def start(self) -> None:
        # Not resolved: sys.executable is <venv>/bin/python and the console script sits next to it.
        up = Path(sys.executable).parent / "keptn-temporal"
        if not up.exists():
            raise BenchError(
                f"{up} not found: run this script with the project venv's python (.venv/bin/python)"
            )
        env = dict(os.environ)
        # An exported TEMPORAL_ADDRESS / NATS_URL / database / token would point the stack at shared
        # infrastructure; the bench always measures the embedded stack in its own data dir.
        for name in (
            "TEMPORAL_ADDRESS",
            "NATS_URL",
            "KEPTN_DATABASE_URL",
            "KEPTN_API_TOKEN",
            "KEPTN_UP_COMPONENTS",
        ):
            env.pop(name, None)
        env |= {
            "KEPTN_DATA_DIR": str(self.data_dir),
            "KEPTN_API_HOST": "127.0.0.1",
            "KEPTN_API_PORT": str(self.ports.api),
            "KEPTN_TEMPORAL_PORT": str(self.ports.temporal),
            "KEPTN_TEMPORAL_UI_PORT": str(self.ports.temporal_ui),
            "KEPTN_NATS_PORT": str(self.ports.nats),
            "PYTHONUNBUFFERED": "1",
        }
        with open(self.log_path, "wb") as log:
            self.proc = subprocess.Popen(
                [str(up), "up"], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )

    async def wait_ready(self, timeout_s: float = READY_TIMEOUT_S) -> str:
        """Wait for /readyz, then for `up`'s banner (printed only after the worker answered a ping, which
        /readyz does not cover); return the API token."""
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(timeout=2) as http:
            while not await self._api_ready(http):
                self._check_alive()
                if time.monotonic() > deadline:
                    raise BenchError(f"API not ready after {timeout_s:.0f}s; see {self.log_path}")
                await asyncio.sleep(0.3)
        while UP_BANNER not in self.log_path.read_text(errors="replace"):
            self._check_alive()
            if time.monotonic() > deadline:
                raise BenchError(f"worker not ready after {timeout_s:.0f}s; see {self.log_path}")
            await asyncio.sleep(0.3)
        return (self.data_dir / "api-token").read_text().strip()

    async def _api_ready(self, http: httpx.AsyncClient) -> bool:
        try:
            return (await http.get(f"{self.api_url}/readyz")).status_code == 200
        except httpx.HTTPError:
            return False

    def _check_alive(self) -> None:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise BenchError(f"`keptn-temporal up` exited with {self.proc.returncode}; see {self.log_path}")

    def stop(self) -> int | None:
        """One SIGTERM (`up` then stops API, worker, NATS and Temporal in order); SIGKILL to the process
        group we created only if that does not finish in time."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
            return self.proc.wait()


# ---- CPU accounting ---------------------------------------------------------------------------------------


def _role(cmdline: list[str]) -> str:
    """Which part of the stack a process is, from its command line (see keptn_temporal/stack.py)."""
    args = " ".join(cmdline)
    if "keptn_temporal.cli" in args:
        return cmdline[-1]  # api | worker
    name = Path(cmdline[0]).name if cmdline else "?"
    return {"temporal": "temporal", "nats-server": "nats"}.get(name, "up")


def stack_cpu_seconds(root_pid: int) -> dict[str, float]:
    """user+system CPU seconds used so far by `up` and its descendants (by role) and by this process.

    Read from /proc (Linux); an empty dict elsewhere. Differences between two readings over a phase show
    which process is the bottleneck."""
    proc = Path("/proc")
    if not proc.is_dir():
        return {}
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # exited meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    cpu: dict[str, float] = defaultdict(float)
    for pid in used:
        ancestor = pid
        while ancestor not in (root_pid, 0, 1) and ancestor in parents:
            ancestor = parents[ancestor]
        if ancestor != root_pid:
            continue
        try:
            cmdline = (proc / str(pid) / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:
            continue
        cpu[_role([a for a in cmdline if a])] += used[pid]
    times = os.times()
    cpu["bench"] = times.user + times.system
    return dict(cpu)


def cpu_usage(
    before: dict[str, float], after: dict[str, float], wall_s: float
) -> dict[str, dict[str, float]]:
    """CPU seconds per role over a phase, and the same as cores busy on average."""
    return {
        role: {
            "cpu_s": round(after[role] - before.get(role, 0.0), 1),
            "cores": round((after[role] - before.get(role, 0.0)) / wall_s, 2),
        }
        for role in sorted(after)
        if wall_s > 0
    }


# ---- what happens to each sequence --------------------------------------------------------------------------


@dataclass
class SequenceTrace:
    """perf_counter timestamps of one sequence as seen from the bench."""

    service: str
    workflow_id: str
    trigger_sent: float = 0.0  # just before POST /api/v1/event
    trigger_accepted: float = 0.0  # the API answered 200
    task_triggered: dict[str, float] = field(default_factory=dict)  # first receipt of <task>.triggered
    task_finished_sent: dict[str, float] = field(
        default_factory=dict
    )  # just before publishing <task>.finished
    finished: float = 0.0  # receipt of <stage>.<sequence>.finished
    result: str = ""
    duplicate_triggered: int = 0  # the same <task>.triggered received again (e.g. a retried activity)


class Recorder:
    def __init__(self) -> None:
        self.traces: dict[str, SequenceTrace] = {}
        self._waiters: list[tuple[set[str], asyncio.Event]] = []

    def expect(self, context: str, service: str, workflow_id: str) -> SequenceTrace:
        trace = SequenceTrace(service=service, workflow_id=workflow_id)
        self.traces[context] = trace
        return trace

    def task_triggered(self, context: str, task: str, at: float) -> bool:
        """Record a .triggered; False if it is not ours or a duplicate (then it is still answered)."""
        trace = self.traces.get(context)
        if trace is None:
            return False
        if task in trace.task_triggered:
            trace.duplicate_triggered += 1
            return False
        trace.task_triggered[task] = at
        return True

    def task_finished_sent(self, context: str, task: str, at: float) -> None:
        trace = self.traces.get(context)
        if trace is not None:
            trace.task_finished_sent.setdefault(task, at)

    def sequence_finished(self, context: str, result: str, at: float) -> None:
        trace = self.traces.get(context)
        if trace is None or trace.finished:
            return
        trace.finished, trace.result = at, result
        for contexts, done in self._waiters:
            contexts.discard(context)
            if not contexts:
                done.set()

    async def wait_finished(self, contexts: Iterable[str], timeout_s: float) -> bool:
        pending = {c for c in contexts if not self.traces[c].finished}
        if not pending:
            return True
        done = asyncio.Event()
        waiter = (pending, done)
        self._waiters.append(waiter)
        try:
            await asyncio.wait_for(done.wait(), timeout_s)
            return True
        except TimeoutError:
            return False
        finally:
            self._waiters.remove(waiter)


# ---- the execution plane ------------------------------------------------------------------------------------


def keptn_time() -> str:
    now = datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class FakeExecutor:
    """One core-NATS queue subscriber for all tasks (as Keptn's cp-connector): `.started` and `.finished`
    (pass/succeeded) go out straight from the message callback, no extra task hop, so the measured
    transition is the control plane's, not ours."""

    QUEUE = "bench-executor"

    def __init__(self, nc: NATS, recorder: Recorder) -> None:
        self.nc = nc
        self.recorder = recorder
        self.answered = 0

    async def start(self) -> None:
        for task in TASKS:
            await self.nc.subscribe(
                f"sh.keptn.event.{task}.triggered", queue=self.QUEUE, cb=self._on_triggered
            )

    async def _on_triggered(self, msg: Msg) -> None:
        received = time.perf_counter()
        triggered = json.loads(msg.data)
        task = triggered["type"].split(".")[3]
        context = triggered.get("shkeptncontext", "")
        self.recorder.task_triggered(context, task, received)
        scope = {k: (triggered.get("data") or {}).get(k) for k in ("project", "stage", "service")}
        await self._send(task, "started", triggered, scope | {"status": "succeeded"})
        self.recorder.task_finished_sent(context, task, time.perf_counter())
        await self._send(task, "finished", triggered, scope | {"status": "succeeded", "result": "pass"})
        self.answered += 1

    async def _send(self, task: str, kind: str, triggered: dict[str, Any], data: dict[str, Any]) -> None:
        event_type = f"sh.keptn.event.{task}.{kind}"
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": "bench-executor",
            "type": event_type,
            "time": keptn_time(),
            "contenttype": "application/json",
            "shkeptncontext": triggered["shkeptncontext"],
            "shkeptnspecversion": "0.2.4",
            "triggeredid": triggered["id"],
            "data": data,
        }
        # Core NATS, as the cp-connector does; the KEPTN stream captures the subject.
        await self.nc.publish(event_type, json.dumps(event).encode())


async def watch_sequence_finished(nc: NATS, recorder: Recorder) -> None:
    async def on_finished(msg: Msg) -> None:
        at = time.perf_counter()
        event = json.loads(msg.data)
        recorder.sequence_finished(
            event.get("shkeptncontext", ""), (event.get("data") or {}).get("result", ""), at
        )

    await nc.subscribe("sh.keptn.event.*.*.finished", cb=on_finished)


# ---- the control plane's API ------------------------------------------------------------------------------


async def create_project(api: httpx.AsyncClient, services: Sequence[str]) -> None:
    shipyard = base64.b64encode(SHIPYARD.encode()).decode()
    r = await api.post("/controlPlane/v1/project", json={"name": PROJECT, "shipyard": shipyard})
    if r.status_code != 201:
        raise BenchError(f"create project: {r.status_code} {r.text}")
    for service in services:
        r = await api.post(f"/controlPlane/v1/project/{PROJECT}/service", json={"serviceName": service})
        if r.status_code != 200:
            raise BenchError(f"create service {service}: {r.status_code} {r.text}")


def sequence_workflow_id(context: str, trigger_id: str) -> str:
    # workflows/messages.py:sequence_workflow_id; repeated here so the bench imports nothing of the engine.
    return f"sequence/{context}/{STAGE}.{SEQUENCE}/{trigger_id}"


async def trigger_sequence(api: httpx.AsyncClient, recorder: Recorder, service: str) -> tuple[str, str]:
    """POST one `<stage>.<sequence>.triggered`; returns (keptn context, trigger event id).

    Both are chosen here, not by the API: the first task's .triggered may arrive before the POST returns, and
    the trigger id gives the Sequence workflow's id (workflows/messages.py) for the history sample."""
    context, trigger_id = str(uuid.uuid4()), str(uuid.uuid4())
    trace = recorder.expect(context, service, sequence_workflow_id(context, trigger_id))
    body = {
        "id": trigger_id,
        "type": f"sh.keptn.event.{STAGE}.{SEQUENCE}.triggered",
        "source": "bench",
        "shkeptncontext": context,
        "data": {"project": PROJECT, "stage": STAGE, "service": service},
    }
    trace.trigger_sent = time.perf_counter()
    r = await api.post("/v1/event", json=body)
    trace.trigger_accepted = time.perf_counter()
    if r.status_code != 200:
        raise BenchError(f"trigger: {r.status_code} {r.text}")
    return context, trigger_id


async def bounded(count: int, concurrency: int, job: Callable[[int], Awaitable[Any]]) -> list[Any]:
    """Run job(0..count-1) with at most `concurrency` in flight; results in index order."""
    results: list[Any] = [None] * count
    indexes = iter(range(count))

    async def lane() -> None:
        for index in indexes:  # a shared iterator: each index is taken by exactly one lane
            results[index] = await job(index)

    await asyncio.gather(*(lane() for _ in range(min(concurrency, count))))
    return results


# ---- statistics ---------------------------------------------------------------------------------------------


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile: always a value that was measured (p99 of 400 samples is the 396th)."""
    index = max(0, math.ceil(p / 100 * len(sorted_values)) - 1)
    return sorted_values[index]


def summary_ms(seconds: Iterable[float]) -> dict[str, float | int]:
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"count": 0}
    return {
        "count": len(values),
        "p50": round(percentile(values, 50), 1),
        "p99": round(percentile(values, 99), 1),
        "max": round(values[-1], 1),
        "mean": round(sum(values) / len(values), 1),
    }


# ---- the Keptn run ------------------------------------------------------------------------------------------


def keptn_metrics(traces: Sequence[SequenceTrace], wall_s: float) -> dict[str, Any]:
    done = [t for t in traces if t.finished]
    transitions = [
        t.task_triggered[nxt] - t.task_finished_sent[prev]
        for t in traces
        for prev, nxt in pairwise(TASKS)
        if nxt in t.task_triggered and prev in t.task_finished_sent
    ]
    last = TASKS[-1]
    return {
        "sequences": len(traces),
        "finished": len(done),
        "not_pass": sum(1 for t in done if t.result != "pass"),
        "duplicate_task_triggered": sum(t.duplicate_triggered for t in traces),
        "wall_s": round(wall_s, 2),
        "sequences_per_s": round(len(done) / wall_s, 2) if wall_s > 0 else 0.0,
        "task_transition_ms": summary_ms(transitions),
        "last_task_to_sequence_finished_ms": summary_ms(
            t.finished - t.task_finished_sent[last] for t in done if last in t.task_finished_sent
        ),
        "trigger_to_first_task_ms": summary_ms(
            t.task_triggered[TASKS[0]] - t.trigger_sent for t in traces if TASKS[0] in t.task_triggered
        ),
        "lane_handover_ms": summary_ms(lane_handovers(traces)),
        "trigger_post_ms": summary_ms(
            t.trigger_accepted - t.trigger_sent for t in traces if t.trigger_accepted
        ),
        "sequence_duration_ms": summary_ms(t.finished - t.trigger_sent for t in done),
        "slowest_transitions": slowest_transitions(traces),
    }


def slowest_transitions(traces: Iterable[SequenceTrace], keep: int = 5) -> list[dict[str, Any]]:
    """The worst task transitions with their workflow ids, to look them up in the Temporal UI / history."""
    found = [
        {
            "workflow_id": t.workflow_id,
            "from": prev,
            "to": nxt,
            "ms": round((t.task_triggered[nxt] - t.task_finished_sent[prev]) * 1000, 1),
        }
        for t in traces
        for prev, nxt in pairwise(TASKS)
        if nxt in t.task_triggered and prev in t.task_finished_sent
    ]
    return sorted(found, key=lambda f: f["ms"], reverse=True)[:keep]


def lane_handovers(traces: Iterable[SequenceTrace]) -> list[float]:
    """Per service (= lane): previous sequence's .finished -> next sequence's first .triggered.

    The lane runs one sequence at a time, so ordering a service's sequences by their first .triggered gives
    the order the lane granted them in."""
    by_service: dict[str, list[SequenceTrace]] = defaultdict(list)
    for trace in traces:
        if TASKS[0] in trace.task_triggered:
            by_service[trace.service].append(trace)
    gaps: list[float] = []
    for lane in by_service.values():
        lane.sort(key=lambda t: t.task_triggered[TASKS[0]])
        gaps += [b.task_triggered[TASKS[0]] - a.finished for a, b in pairwise(lane) if a.finished]
    return gaps


async def run_sequences(
    api: httpx.AsyncClient,
    recorder: Recorder,
    services: Sequence[str],
    count: int,
    concurrency: int,
    timeout_s: float,
) -> tuple[list[SequenceTrace], list[str], float]:
    """Trigger `count` sequences round-robin over `services`; returns traces, workflow ids and wall time."""
    started = time.perf_counter()
    deadline = started + timeout_s

    async def one(index: int) -> tuple[str, str]:
        return await trigger_sequence(api, recorder, services[index % len(services)])

    triggered: list[tuple[str, str]] = await asyncio.wait_for(bounded(count, concurrency, one), timeout_s)
    contexts = [c for c, _ in triggered]
    await recorder.wait_finished(contexts, max(0.0, deadline - time.perf_counter()))
    traces = [recorder.traces[c] for c in contexts]
    ends = [t.finished for t in traces if t.finished]
    wall = (max(ends) if ends else time.perf_counter()) - started
    workflow_ids = [sequence_workflow_id(c, trigger_id) for c, trigger_id in triggered]
    return traces, workflow_ids, wall


async def sequence_history_counts(client: Client, workflow_id: str) -> dict[str, int]:
    """What one Sequence workflow cost Temporal, from its history."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    counted = {
        "activities": EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED,
        "workflow_tasks": EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED,
        "signals_received": EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
        "signals_sent": EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
    }
    counts = {name: sum(1 for e in history.events if e.event_type == kind) for name, kind in counted.items()}
    counts["history_events"] = len(history.events)
    return counts


# ---- the bare-Temporal baseline ----------------------------------------------------------------------------


async def run_baseline(
    client: Client, count: int, activities: int, concurrency: int, timeout_s: float
) -> dict[str, Any]:
    """N workflows of `activities` trivial sequential activities on their own task queue and worker."""
    task_queue = f"bench-baseline-{uuid.uuid4().hex[:8]}"
    run_id = uuid.uuid4().hex[:8]
    STEP_TIMES.clear()
    start_sent: dict[str, float] = {}
    ended: dict[str, float] = {}

    async with Worker(client, task_queue=task_queue, workflows=[BaselineWorkflow], activities=[bench_step]):
        started = time.perf_counter()
        # `concurrency` bounds the starts in flight, not the running workflows, as the POSTs of the Keptn run
        # (a POST returns once the trigger is accepted; the sequence then runs on its own).
        gate = asyncio.Semaphore(concurrency)

        async def gated(index: int) -> None:
            async with gate:
                workflow_id = f"bench-baseline-{run_id}-{index}"
                start_sent[workflow_id] = time.perf_counter()
                handle = await client.start_workflow(
                    BaselineWorkflow.run, activities, id=workflow_id, task_queue=task_queue
                )
            await handle.result()
            ended[workflow_id] = time.perf_counter()

        await asyncio.wait_for(asyncio.gather(*(gated(i) for i in range(count))), timeout_s)
        wall = max(ended.values()) - started
    transitions = [
        STEP_TIMES[(wf, i + 1)][0] - STEP_TIMES[(wf, i)][1]
        for wf in start_sent
        for i in range(activities - 1)
        if (wf, i) in STEP_TIMES and (wf, i + 1) in STEP_TIMES
    ]
    return {
        "workflows": count,
        "activities_per_workflow": activities,
        "wall_s": round(wall, 2),
        "workflows_per_s": round(count / wall, 2),
        "activities_per_s": round(count * activities / wall, 1),
        "activity_transition_ms": summary_ms(transitions),
        "start_to_first_activity_ms": summary_ms(
            STEP_TIMES[(wf, 0)][0] - sent for wf, sent in start_sent.items() if (wf, 0) in STEP_TIMES
        ),
        "workflow_duration_ms": summary_ms(ended[wf] - start_sent[wf] for wf in ended),
    }


# ---- orchestration ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Options:
    sequences: int
    services: int
    concurrency: int
    timeout: float
    warmup: int
    json: Path | None
    keep_data: bool


def progress(text: str) -> None:
    print(f"[bench] {text}", file=sys.stderr, flush=True)


async def bench(stack: EmbeddedStack, opts: Options) -> dict[str, Any]:
    progress(f"waiting for the stack (log: {stack.log_path})")
    token = await stack.wait_ready()
    recorder = Recorder()
    nc = await nats.connect(stack.nats_url, name="bench", max_reconnect_attempts=3)
    try:
        await FakeExecutor(nc, recorder).start()
        await watch_sequence_finished(nc, recorder)
        await nc.flush()  # subscriptions are active on the server before the first trigger
        services = [f"svc-{i}" for i in range(opts.services)]
        limits = httpx.Limits(max_connections=opts.concurrency, max_keepalive_connections=opts.concurrency)
        async with httpx.AsyncClient(
            base_url=f"{stack.api_url}/api", headers={"x-token": token}, timeout=60, limits=limits
        ) as api:
            await create_project(api, services)
            sample_ids: list[str] = []
            if opts.warmup:
                # Warm-up, not measured: imports, sandbox, DB pools and connections in every process.
                progress(f"warm-up: {opts.warmup} sequence(s)")
                warm, sample_ids, _ = await run_sequences(
                    api, recorder, services, opts.warmup, opts.concurrency, opts.timeout
                )
                if not all(t.finished for t in warm):
                    raise BenchError(f"warm-up sequences did not finish within {opts.timeout:.0f}s")
            progress(f"running {opts.sequences} sequences over {opts.services} service(s)")
            cpu_before = stack_cpu_seconds(stack.pid)
            traces, workflow_ids, wall = await run_sequences(
                api, recorder, services, opts.sequences, opts.concurrency, opts.timeout
            )
            keptn_cpu = cpu_usage(cpu_before, stack_cpu_seconds(stack.pid), wall)
        keptn = keptn_metrics(traces, wall) | {"cpu": keptn_cpu}
        progress(f"{keptn['finished']}/{opts.sequences} sequences finished in {keptn['wall_s']} s")
        temporal = await Client.connect(stack.temporal_address)
        finished_ids = [w for w, t in zip(workflow_ids, traces, strict=True) if t.finished]
        shape = await sequence_history_counts(temporal, (sample_ids or finished_ids)[0])
        progress(f"baseline: {opts.sequences} workflows x {shape['activities']} trivial activities")
        cpu_before = stack_cpu_seconds(stack.pid)
        baseline = await run_baseline(
            temporal, opts.sequences, shape["activities"], opts.concurrency, opts.timeout
        )
        baseline["cpu"] = cpu_usage(cpu_before, stack_cpu_seconds(stack.pid), baseline["wall_s"])
    finally:
        await nc.close()
    return {
        "config": {k: v for k, v in asdict(opts).items() if k not in ("json", "keep_data")}
        | {"tasks": list(TASKS)},
        "environment": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "keptn": keptn,
        "sequence_workflow": shape,
        "baseline": baseline,
    }


def latency_line(label: str, stats: dict[str, float | int]) -> str:
    if not stats.get("count"):
        return f"  {label:<46} (no samples)"
    return f"  {label:<46} {stats['p50']:>8.1f} {stats['p99']:>8.1f} {stats['max']:>8.1f} {stats['count']:>7}"


def cpu_line(cpu: dict[str, dict[str, float]]) -> str:
    if not cpu:
        return "  CPU (cores busy): not measured (no /proc)"
    busy = ", ".join(f"{role} {use['cores']:.2f}" for role, use in cpu.items() if use["cpu_s"] > 0)
    return f"  CPU (cores busy on average): {busy}"


def format_report(report: dict[str, Any]) -> str:
    cfg, k, shape, b = report["config"], report["keptn"], report["sequence_workflow"], report["baseline"]
    header = f"  {'latency (ms)':<46} {'p50':>8} {'p99':>8} {'max':>8} {'n':>7}"
    return "\n".join(
        [
            f"keptn-temporal sequences: {cfg['sequences']} x [{', '.join(cfg['tasks'])}] over "
            f"{cfg['services']} service lane(s), {cfg['concurrency']} concurrent triggers, "
            f"{report['environment']['cpus']} CPUs",
            "",
            "Keptn sequences (POST /api/v1/event -> ... -> <stage>.<sequence>.finished)",
            f"  finished {k['finished']}/{k['sequences']} ({k['not_pass']} not pass, "
            f"{k['duplicate_task_triggered']} duplicate task .triggered)",
            f"  wall {k['wall_s']:.2f} s   {k['sequences_per_s']:.2f} sequences/s",
            header,
            latency_line("task transition (.finished -> next .triggered)", k["task_transition_ms"]),
            latency_line("last task .finished -> sequence .finished", k["last_task_to_sequence_finished_ms"]),
            latency_line("trigger POST -> first task .triggered", k["trigger_to_first_task_ms"]),
            latency_line("lane handover (.finished -> next first .triggered)", k["lane_handover_ms"]),
            latency_line("trigger POST round trip", k["trigger_post_ms"]),
            latency_line("sequence duration (POST -> .finished)", k["sequence_duration_ms"]),
            cpu_line(k["cpu"]),
            "",
            f"One Sequence workflow: {shape['activities']} activities, {shape['workflow_tasks']} workflow tasks, "
            f"{shape['signals_received']} signals received, {shape['signals_sent']} sent, "
            f"{shape['history_events']} history events",
            "",
            f"Bare Temporal baseline: {b['workflows']} workflows x {b['activities_per_workflow']} trivial "
            "activities (same dev server, in-process worker)",
            f"  wall {b['wall_s']:.2f} s   {b['workflows_per_s']:.2f} workflows/s   "
            f"{b['activities_per_s']:.1f} activities/s",
            header,
            latency_line("activity transition (end -> next start)", b["activity_transition_ms"]),
            latency_line("start_workflow -> first activity", b["start_to_first_activity_ms"]),
            latency_line("workflow duration", b["workflow_duration_ms"]),
            cpu_line(b["cpu"]),
        ]
    )


def parse_args(argv: Sequence[str] | None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=200, help="sequences to run (default 200)")
    parser.add_argument(
        "--services", type=int, default=10, help="services = FIFO lanes, sequences round-robin (default 10)"
    )
    parser.add_argument("--concurrency", type=int, default=10, help="trigger POSTs in flight (default 10)")
    parser.add_argument("--timeout", type=float, default=600.0, help="seconds per phase (default 600)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured sequences first (default 1)")
    parser.add_argument("--json", type=Path, help="also write the report as JSON here")
    parser.add_argument(
        "--keep-data", action="store_true", help="keep the temp data dir (kept anyway on failure)"
    )
    args = parser.parse_args(argv)
    if min(args.sequences, args.services, args.concurrency) < 1 or args.warmup < 0:
        parser.error("--sequences, --services and --concurrency must be >= 1, --warmup >= 0")
    return Options(
        sequences=args.sequences,
        services=args.services,
        concurrency=args.concurrency,
        timeout=args.timeout,
        warmup=args.warmup,
        json=args.json,
        keep_data=args.keep_data,
    )


def _interrupt(signum: int, _frame: object) -> None:
    # SIGTERM takes the same path as Ctrl-C, so the stack is stopped either way.
    raise KeyboardInterrupt(signal.Signals(signum).name)


def main(argv: Sequence[str] | None = None) -> int:
    opts = parse_args(argv)
    data_dir = Path(tempfile.mkdtemp(prefix="keptn-bench-"))
    stack = EmbeddedStack(data_dir, Ports(*free_ports(4)))
    signal.signal(signal.SIGTERM, _interrupt)
    rc = 1
    try:
        progress(f"starting keptn-temporal up in {data_dir} ({stack.ports})")
        stack.start()
        report = asyncio.run(bench(stack, opts))
        print(format_report(report), flush=True)
        if opts.json:
            opts.json.write_text(json.dumps(report, indent=2) + "\n")
            progress(f"wrote {opts.json}")
        rc = 0 if report["keptn"]["finished"] == opts.sequences else 1
    except KeyboardInterrupt:
        progress("interrupted")
        rc = 130
    except (BenchError, TimeoutError) as exc:
        progress(f"failed: {exc!r}" if isinstance(exc, TimeoutError) else f"failed: {exc}")
    finally:
        progress("stopping the stack")
        up_rc = stack.stop()
        if up_rc not in (None, 0):
            progress(f"`keptn-temporal up` exited with {up_rc}")
        if rc == 0 and not opts.keep_data:
            shutil.rmtree(data_dir, ignore_errors=True)
        else:
            progress(f"data dir kept: {data_dir}")
    return rc


if __name__ == "__main__":
    sys.exit(main())
