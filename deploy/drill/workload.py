"""The load of the zero-downtime drill and its verdict.

The orchestration (deploy/drill/orchestrate.py) calls, in this order:

    wl = Workload(gateway_url=..., token=..., nats_url=..., workdir=...)
    await wl.setup()            # project, services, resources, executor processes
    await wl.start()            # background load; returns at once
    wl.phase("before") ... wl.phase("upgrade"); await wl.mid_flip("upgrade", 0..3) between replacements ...
    wl.phase("between") ... wl.phase("downgrade"); await wl.mid_flip("downgrade", 0..3) ... wl.phase("after")
    report = await wl.finish()  # the verdict, JSON-serialisable; report["ok"]

What runs continuously: Keptn's seven zero-downtime API probes every second, a delivery (dev -> staging,
five tasks) every 3-5 s over three services, and a read of a service's slo.yaml every 0.5 s. What runs once:
a manual approval (granted in finish), a sequence whose task waits a short `triggeredAfter` (again at the
start of each flip) and one waiting a long one (aborted in finish). What each mid_flip() adds: an evaluation,
a remediation started by a problem, two deliveries, and a restart of one executor process (SIGTERM, and once
per flip kill -9).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import yaml

from deploy.drill.executors import EXECUTORS, LIGHTHOUSE
from deploy.drill.gateway import Gateway, json_is, status_is
from deploy.drill.journal import read_journal
from deploy.drill.probes import keptn_probes, run_probes
from deploy.drill.processes import ExecutorProcess, ExecutorTarget
from deploy.drill.recorder import Outcome, Recorder
from deploy.drill.scenarios import (
    ALL_SERVICES,
    APPROVAL_SERVICE,
    ASSETS,
    DELAYED_TASK,
    DELIVERY_SERVICES,
    DEV,
    EVALUATED_SERVICE,
    LONG_TIMER_SERVICE,
    REMEDIATED_SERVICE,
    SCENARIOS,
    SHORT_TIMER_SERVICE,
    AcceptedEvent,
    Ledger,
    TrackedSequence,
    expectation,
    shipyard,
)
from deploy.drill.stream import duplicate_ids, project_messages, stream_position
from deploy.drill.verify import Verifier, event_time

CP = "/api/controlPlane/v1"
CLI_SOURCE = "https://github.com/keptn/keptn/cli"
LOAD_SOURCE = "https://github.com/keptn/keptn/drill"
PROBLEM_TITLE = "Response time degradation"
TRIGGER_GIVE_UP_S = 60.0
BACKGROUND_DRAIN_S = 120.0


@dataclass(frozen=True)
class Timings:
    probe_interval_s: float = 1.0
    delivery_interval_s: tuple[float, float] = (3.0, 5.0)
    resource_interval_s: float = 0.5
    answer_delay_s: tuple[float, float] = (0.5, 3.0)  # executors: .started, then .finished after this
    short_timer_s: float = 40.0
    long_timer_s: float = 900.0
    drift_limit_s: float = 5.0
    request_timeout_s: float = 5.0
    deliveries_per_mid_flip: int = 2


class Workload:
    def __init__(
        self,
        *,
        gateway_url: str,
        token: str,
        nats_url: str,
        workdir: Path,
        python: str = sys.executable,
        project_prefix: str = "drill",
        timings: Timings | None = None,
    ) -> None:
        self.timings = t = timings or Timings()
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.nats_url = nats_url
        self.project = f"{project_prefix}-{uuid.uuid4().hex[:6]}"
        self.recorder = Recorder()
        self.gateway = Gateway(gateway_url, token, self.recorder, timeout_s=t.request_timeout_s)
        self.ledger = Ledger()
        self.shipyard = shipyard(t.short_timer_s, t.long_timer_s)
        target = ExecutorTarget(self.project, gateway_url, token, nats_url, python, *t.answer_delay_s)
        self.executors = [ExecutorProcess(s, s.name(project_prefix), target, self.workdir) for s in EXECUTORS]
        self.lighthouse = next(e.name for e in self.executors if e.spec.role == LIGHTHOUSE)
        self.verifier = Verifier(self.gateway, self.project, self.recorder.phase_at)
        # For the orchestration: the long-waiting sequence, and when its timer should fire (known once the
        # task before it has finished). finish() aborts it.
        self.long_timer_context: str | None = None
        self.long_timer_due_at: datetime | None = None
        self.mid_flips: list[dict[str, Any]] = []
        self.internal_errors: list[str] = []
        self._probes = keptn_probes(self.lighthouse)
        self._slo = (ASSETS / "slo.yaml").read_bytes()
        self._stop = asyncio.Event()
        self._loops: list[asyncio.Task[None]] = []
        self._background: set[asyncio.Task[Any]] = set()
        self._victims = itertools.cycle(self.executors)
        self._killed_in: set[str] = set()
        self._delivery_services = itertools.cycle(DELIVERY_SERVICES)
        self._deliveries = itertools.count(1)
        self._stream_start = 0

    # ---- the interface --------------------------------------------------------------------------------

    async def setup(self) -> None:
        try:
            self._stream_start = await stream_position(self.nats_url)
            await self._create_project()
            await asyncio.gather(*(e.start() for e in self.executors))
            # Keptn's probe 6 asks for this registration from the first round on.
            await self.gateway.require(
                "setup:registration",
                "GET",
                f"{CP}/uniform/registration",
                params={"name": self.lighthouse},
                check=json_is(200, lambda b: b[0]["name"] == self.lighthouse, self.lighthouse),
            )
        except BaseException:
            await self.close()
            raise

    async def start(self) -> None:
        if self.recorder.current_phase == "setup":
            self.phase("before")
        self.long_timer_context = str(uuid.uuid4())
        self._spawn(self._trigger("long_timer", LONG_TIMER_SERVICE, context=self.long_timer_context))
        self._spawn(self._watch_long_timer())
        self._spawn(self._trigger("short_timer", SHORT_TIMER_SERVICE))
        self._spawn(self._trigger("approval", APPROVAL_SERVICE))
        t = self.timings
        self._loops = [
            asyncio.create_task(self._every(lambda: t.probe_interval_s, self._probe_round)),
            asyncio.create_task(self._every(lambda: random.uniform(*t.delivery_interval_s), self._delivery)),
            asyncio.create_task(self._every(lambda: t.resource_interval_s, self._read_slo)),
        ]

    def phase(self, name: str) -> None:
        self.recorder.phase(name)

    async def mid_flip(self, flip: str, step: int) -> None:
        self._spawn(self._evaluation())
        self._spawn(self._remediation(f"{flip}-{step}"))
        for _ in range(self.timings.deliveries_per_mid_flip):
            self._spawn(self._delivery())
        if step == 0:
            self._spawn(self._trigger("short_timer", SHORT_TIMER_SERVICE))
        kill = step >= 1 and flip not in self._killed_in
        if kill:
            self._killed_in.add(flip)
        victim = next(self._victims)
        self._spawn(victim.restart(kill=kill))
        self.mid_flips.append(
            {
                "flip": flip,
                "step": step,
                "t": time.time(),
                "executor": victim.name,
                "signal": "KILL" if kill else "TERM",
            }
        )

    async def finish(self, *, timeout_s: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        report: dict[str, Any] = {"project": self.project}
        try:
            self._stop.set()
            await asyncio.gather(*self._loops)
            await self._drain_background(min(deadline, time.monotonic() + BACKGROUND_DRAIN_S))
            report["long_timer"] = await self._check_and_abort_long_timer()
            report["approval"] = await self._grant_approval(deadline)
            await self.verifier.settle(self.ledger.sequences, deadline)
            executor_events = self._executor_events(await self._journals())
            report |= await self.verifier.report(self.ledger, executor_events, self.timings.short_timer_s)
            report["stream"] = await self._stream_check([*self.ledger.accepted, *executor_events])
        except Exception as exc:  # the report says why it is incomplete rather than losing everything
            report["error"] = f"{type(exc).__name__}: {exc}"
        finally:
            await self.close()
        return self._verdict(report, await self._journals())

    async def close(self) -> None:
        """Stop the load and the executor processes (finish() does this itself)."""
        self._stop.set()
        for task in [*self._loops, *self._background]:
            task.cancel()
        await asyncio.gather(*self._loops, *self._background, return_exceptions=True)
        await asyncio.gather(*(e.close() for e in self.executors), return_exceptions=True)
        await self.gateway.close()

    # ---- setup ----------------------------------------------------------------------------------------

    async def _create_project(self) -> None:
        text = yaml.safe_dump(self.shipyard, sort_keys=False)
        await self.gateway.require(
            "setup:project",
            "POST",
            f"{CP}/project",
            check=status_is(201),
            json={"name": self.project, "shipyard": base64.b64encode(text.encode()).decode()},
        )
        for service in ALL_SERVICES:
            await self.gateway.require(
                "setup:service", "POST", f"{CP}/project/{self.project}/service", json={"serviceName": service}
            )
        for service, name in ((EVALUATED_SERVICE, "slo.yaml"), (REMEDIATED_SERVICE, "remediation.yaml")):
            content = base64.b64encode((ASSETS / name).read_bytes()).decode()
            await self.gateway.require(
                "setup:resource",
                "POST",
                f"/api/resource-service/v1/project/{self.project}/stage/{DEV}/service/{service}/resource",
                check=status_is(201),
                json={"resources": [{"resourceURI": name, "resourceContent": content}]},
            )

    # ---- the load -------------------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self.internal_errors.append(f"{type(task.exception()).__name__}: {task.exception()}"[:500])

    async def _every(self, interval: Callable[[], float], action: Callable[[], Awaitable[None]]) -> None:
        """Start `action` on a fixed schedule; a slow one does not hold back the next (as Keptn's suite)."""
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while not self._stop.is_set():
            self._spawn(action())
            next_at += interval()
            try:
                await asyncio.wait_for(self._stop.wait(), max(0.0, next_at - loop.time()))
            except TimeoutError:
                pass

    async def _drain_background(self, deadline: float) -> None:
        while self._background and time.monotonic() < deadline:
            await asyncio.wait(set(self._background), timeout=max(0.0, deadline - time.monotonic()))
        for task in list(self._background):
            self.internal_errors.append(f"still running at finish, cancelled: {task.get_coro()!r}"[:300])
            task.cancel()

    async def _probe_round(self) -> None:
        await run_probes(self.gateway, self._probes)

    async def _read_slo(self) -> None:
        path = f"/api/resource-service/v1/project/{self.project}/stage/{DEV}/service/{EVALUATED_SERVICE}/resource/slo.yaml"
        same = json_is(
            200, lambda b: base64.b64decode(b["resourceContent"]) == self._slo, "the slo.yaml of setup"
        )
        await self.gateway.call("resource:slo", "GET", path, check=same)

    async def _delivery(self) -> None:
        service = next(self._delivery_services)
        image = f"docker.io/keptnexamples/{service}:0.13.{next(self._deliveries)}"
        await self._trigger("delivery", service, data={"configurationChange": {"values": {"image": image}}})

    async def _remediation(self, label: str) -> None:
        problem = {
            "problemTitle": PROBLEM_TITLE,
            "rootCause": PROBLEM_TITLE,
            "state": "OPEN",
            "ProblemID": f"drill-{label}",
            "ImpactedEntity": REMEDIATED_SERVICE,
        }
        await self._trigger("remediation", REMEDIATED_SERVICE, data={"problem": problem})

    async def _trigger(
        self, scenario: str, service: str, *, context: str | None = None, data: dict[str, Any] | None = None
    ) -> None:
        """POST the sequence's `.triggered`; a failed POST is retried with the same CloudEvent id (the
        control plane de-duplicates it), each failure still counting as a failed request."""
        stage, sequence = SCENARIOS[scenario].chain[0]
        context = context or str(uuid.uuid4())
        event = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": LOAD_SOURCE,
            "type": f"sh.keptn.event.{stage}.{sequence}.triggered",
            "shkeptncontext": context,
            "data": {"project": self.project, "stage": stage, "service": service, **(data or {})},
        }
        phase, at = self.recorder.current_phase, time.time()
        accepted = await self._post_event("event:trigger", event)
        if accepted:
            self._track(scenario, context, service, phase, at)

    async def _post_event(self, kind: str, event: dict[str, Any]) -> bool:
        context = event["shkeptncontext"]
        r = await self.gateway.call_until_ok(
            kind,
            "POST",
            "/api/v1/event",
            json=event,
            check=json_is(200, lambda b: b["keptnContext"] == context, f"keptnContext {context}"),
            give_up_after_s=TRIGGER_GIVE_UP_S,
        )
        if r is None:
            self.ledger.unaccepted.append({"id": event["id"], "type": event["type"], "keptnContext": context})
            return False
        self.ledger.accepted.append(AcceptedEvent(event["id"], event["type"], context, "load"))
        return True

    async def _evaluation(self) -> None:
        """`keptn trigger evaluation`. Not retried: the endpoint creates a new evaluation on every call."""
        phase, at = self.recorder.current_phase, time.time()
        r = await self.gateway.call(
            "evaluation:trigger",
            "POST",
            f"{CP}/project/{self.project}/stage/{DEV}/service/{EVALUATED_SERVICE}/evaluation",
            json={"timeframe": "5m"},
            check=json_is(200, lambda b: bool(b["keptnContext"]), "a keptnContext"),
        )
        if r is None:
            self.ledger.unaccepted.append({"type": "evaluation endpoint", "phase": phase})
            return
        context = r.json()["keptnContext"]
        self.ledger.accepted.append(
            AcceptedEvent(None, f"sh.keptn.event.{DEV}.evaluation.triggered", context, "load")
        )
        self._track("evaluation", context, EVALUATED_SERVICE, phase, at)

    def _track(self, scenario: str, context: str, service: str, phase: str, at: float) -> None:
        expect = expectation(SCENARIOS[scenario], self.shipyard)
        self.ledger.sequences.append(TrackedSequence(scenario, context, service, phase, at, expect))

    # ---- the long timer and the approval ---------------------------------------------------------------

    def _due_at(self, events: list[dict[str, Any]]) -> datetime | None:
        before = [e for e in events if e["type"] == "sh.keptn.event.deployment.finished"]
        if not before:
            return None
        return min(event_time(e) for e in before) + timedelta(seconds=self.timings.long_timer_s)

    async def _watch_long_timer(self) -> None:
        assert self.long_timer_context is not None
        params = {"project": self.project, "keptnContext": self.long_timer_context, "pageSize": "100"}
        while self.long_timer_due_at is None and not self._stop.is_set():
            r = await self.gateway.call(
                "watch:long-timer", "GET", "/api/mongodb-datastore/event", params=params
            )
            if r is not None:
                self.long_timer_due_at = self._due_at(r.json()["events"])
            try:
                await asyncio.wait_for(self._stop.wait(), 2.0)
            except TimeoutError:
                pass

    async def _check_and_abort_long_timer(self) -> dict[str, Any]:
        """Still waiting (started, the delayed task not sent, before its instant), then aborted through the
        API. When exactly Temporal will fire is not visible through Keptn's API: see `not_checked`."""
        context = self.long_timer_context
        out: dict[str, Any] = {"keptnContext": context, "triggeredAfter_s": self.timings.long_timer_s}
        if context is None or context not in {s.context for s in self.ledger.sequences}:
            return out | {"waiting_as_expected": False, "error": "the long-timer sequence was never accepted"}
        events = await self.verifier.events(context)
        state = (await self.verifier.states()).get(context)
        due = self._due_at(events) or self.long_timer_due_at
        fired = any(e["type"] == f"sh.keptn.event.{DELAYED_TASK}.triggered" for e in events)
        now = datetime.now(UTC)
        out |= {
            "due_at": due.isoformat() if due else None,
            "state_at_finish": state,
            "delayed_task_triggered": fired,
            "remaining_s": round((due - now).total_seconds(), 1) if due else None,
            "waiting_as_expected": due is not None and not fired and state == "started" and now < due,
        }
        r = await self.gateway.call(
            "control:abort",
            "POST",
            f"{CP}/sequence/{self.project}/{context}/control",
            json={"state": "abort", "stage": ""},
        )
        out["abort_accepted"] = r is not None
        return out

    async def _grant_approval(self, deadline: float) -> dict[str, Any]:
        """The user's decision, as the CLI sends it: approval.finished pass for the open approval.triggered."""
        context = self.ledger.context_of("approval")
        out: dict[str, Any] = {"keptnContext": context, "granted": False}
        if context is None:
            return out | {"error": "the approval sequence was never accepted"}
        executions = await self.gateway.json_pages(
            "verify:sequence-executions",
            f"{CP}/sequence-execution",
            "sequenceExecutions",
            {"project": self.project, "keptnContext": context},
        )
        out["waiting_at_finish"] = any(e["status"]["state"] == "waitingForApproval" for e in executions)
        triggered = None
        while triggered is None and time.monotonic() < deadline:
            open_events = await self.gateway.json_pages(
                "approval:open",
                f"{CP}/event/triggered/sh.keptn.event.approval.triggered",
                "events",
                {"project": self.project, "stage": DEV, "service": APPROVAL_SERVICE},
            )
            triggered = next((e for e in open_events if e["shkeptncontext"] == context), None)
            if triggered is None:
                await asyncio.sleep(1)
        if triggered is None:
            return out | {"error": "no open approval.triggered"}
        grant = {
            "specversion": "1.0",
            "id": str(uuid.uuid4()),
            "source": CLI_SOURCE,
            "type": "sh.keptn.event.approval.finished",
            "shkeptncontext": context,
            "triggeredid": triggered["id"],
            "data": {
                "project": self.project,
                "stage": DEV,
                "service": APPROVAL_SERVICE,
                "status": "succeeded",
                "result": "pass",
            },
        }
        out["granted"] = await self._post_event("event:approval", grant)
        return out

    # ---- executors and the stream ----------------------------------------------------------------------

    async def _journals(self) -> dict[str, list[dict[str, Any]]]:
        return {e.name: await asyncio.to_thread(read_journal, e.journal) for e in self.executors}

    @staticmethod
    def _executor_events(journals: dict[str, list[dict[str, Any]]]) -> list[AcceptedEvent]:
        return [
            AcceptedEvent(r["id"], r["type"], r["context"], name)
            for name, records in journals.items()
            for r in records
            if r["rec"] == "sent"
        ]

    async def _stream_check(self, accepted: list[AcceptedEvent]) -> dict[str, Any]:
        """Every accepted event whose id we know must be on the stream, once."""
        messages = await project_messages(self.nats_url, self.project, self._stream_start)
        on_stream = {m.get("id") for m in messages}
        missing = [a for a in accepted if a.id is not None and a.id not in on_stream]
        duplicates = duplicate_ids(messages)
        return {
            "messages": len(messages),
            "duplicate_ids": duplicates[:20],
            "duplicate_count": len(duplicates),
            "accepted_not_on_stream": [{"id": a.id, "type": a.type, "source": a.source} for a in missing][
                :20
            ],
            "accepted_not_on_stream_count": len(missing),
        }

    def _executor_summary(self, journals: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        out = {}
        for e in self.executors:
            records = journals[e.name]
            answered = [r for r in records if r["rec"] == "answered"]
            out[e.name] = {
                "tasks": list(e.spec.tasks),
                "answers_via": e.spec.via,
                "starts": e.starts,
                "sigterm_restarts": e.terms,
                "kill9_restarts": e.kills,
                "restart_s": e.restart_s,
                "answered": len(answered),
                "answered_redelivered": sum(1 for r in answered if r["deliveries"] > 1),
                "events_sent": sum(1 for r in records if r["rec"] == "sent"),
                "errors": [r for r in records if r["rec"].endswith("-error")][:10],
            }
        return out

    # ---- the verdict ----------------------------------------------------------------------------------

    def _verdict(self, report: dict[str, Any], journals: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        executor_outcomes = [
            Outcome(r["kind"], r["at"], r["latency_s"], r["error"])
            for records in journals.values()
            for r in records
            if r["rec"] == "request"
        ]
        for records in journals.values():
            for r in records:
                if r["rec"] == "retry":
                    self.recorder.retry(r["kind"])
        requests = self.recorder.summary(executor_outcomes)
        sequences = report.get("sequences", {})
        if "long_timer" in report and sequences:
            report["long_timer"]["ended_aborted"] = sequences["by_scenario"]["long_timer"]["ok"] == 1
        checks = verdict_checks(report, requests, self.timings.drift_limit_s, self.internal_errors)
        return {
            "ok": all(checks.values()),
            "checks": checks,
            "project": self.project,
            "integrations": [e.name for e in self.executors],
            "phases": self.recorder.timeline(),
            "mid_flips": self.mid_flips,
            "requests": requests,
            **{k: v for k, v in report.items() if k not in ("project", "short_timer")},
            "short_timer": report.get("short_timer", {}) | {"limit_s": self.timings.drift_limit_s},
            "executors": self._executor_summary(journals),
            "internal_errors": self.internal_errors[:20],
            "not_checked": NOT_CHECKED,
        }


def verdict_checks(
    report: dict[str, Any], requests: dict[str, Any], drift_limit_s: float, internal_errors: list[str]
) -> dict[str, bool]:
    """The drill passes when every one of these holds; a part of the report that is missing (verification
    cut short by an error) fails its check."""
    sequences = report.get("sequences", {})
    short = report.get("short_timer", {})
    drift = short.get("max_abs_drift_s")
    stream = report.get("stream", {})
    approval = report.get("approval", {})
    return {
        "verification_complete": "error" not in report,
        "no_failed_requests": requests["failed"] == 0,
        "no_lost_events": report.get("events", {}).get("lost_count", 1) == 0
        and stream.get("accepted_not_on_stream_count", 1) == 0,
        "no_duplicates": report.get("duplicates", {}).get("count", 1) == 0
        and stream.get("duplicate_count", 1) == 0,
        "sequences_as_expected": bool(sequences)
        and sequences["stuck"] == 0
        and sequences["wrong"] == 0
        and sequences["untracked_count"] == 0
        and sequences["unaccepted_count"] == 0,
        "timer_drift_within_limit": drift is not None
        and drift <= drift_limit_s
        and not short.get("not_fired"),
        "long_timer_waiting": report.get("long_timer", {}).get("waiting_as_expected", False),
        "approval_waited_for_grant": approval.get("waiting_at_finish", False)
        and approval.get("granted", False),
        "executor_restarts_ok": not internal_errors,
    }


NOT_CHECKED = [
    "When the long timer will fire: Keptn's API does not show a pending triggeredAfter timer. Checked: the "
    "sequence is still 'started', its delayed task was not sent, and due_at (previous task .finished + "
    "triggeredAfter) is still ahead. Compare Temporal's timer of long_timer.keptnContext with long_timer.due_at "
    "(Workload.long_timer_context / long_timer_due_at) before finish(), which aborts it.",
    "Events the control plane emits itself (task .triggered, <stage>.<sequence>.finished) are checked through the "
    "sequence outcomes and the per-task .triggered counts, not one by one.",
    "Evaluation triggers: the endpoint chooses the event id, so an evaluation is found by type in the returned "
    "keptnContext; a failed evaluation POST is not retried (it is not idempotent) and counts as unaccepted.",
    "An executor answer accepted right before a kill -9 may miss its journal line (written once the answer is "
    "accepted): it is then absent from events.accepted but still covered by its sequence's outcome.",
    "The datastore stores an event once per id; duplicate ids are therefore also looked for on the KEPTN stream "
    "(stream.duplicate_ids), from the stream position at setup.",
]
