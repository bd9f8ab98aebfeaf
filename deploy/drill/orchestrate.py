"""The zero-downtime drill: a rolling upgrade and a rolling downgrade of every control-plane process,
under continuous load (deploy/drill/workload.py), then verification.

    install the previous release and the candidate side by side (from git)
    start the HA stack on the previous release; start the load
    upgrade:   migrate (expand) with the candidate; worker1, rollout (wait for the old build to drain),
               worker2, api1, api2 — each replaced by the candidate's process, one at a time
    downgrade: the same back to the previous release, on the candidate's schema (no migration back)
    verify:    the load's own checks, graceful exits of every replaced process, the 15m timer's instant,
               and every workflow history of the run replayed by both releases' code
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict
from datetime import datetime, timedelta
from typing import Any

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from deploy.drill.workload import Workload
from deploy.local.hastack import API_ROLES, WORKER_ROLES, HAStack
from deploy.local.releases import Release

# Every workflow type the releases run; the replay check reads all their histories.
WORKFLOW_QUERY = 'WorkflowType="Sequence" OR WorkflowType="Lane" OR WorkflowType="ControlPlanePing"'


async def pending_timer_fire_at(client: Client, keptn_context: str) -> str | None:
    """When the open `triggeredAfter` timer of the context's sequence fires (ISO time), from its history."""
    async for execution in client.list_workflows(
        f'KeptnContext="{keptn_context}" AND WorkflowType="Sequence"'
    ):
        history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        started: dict[int, datetime] = {}
        for event in history.events:
            if event.event_type == EventType.EVENT_TYPE_TIMER_STARTED:
                attrs = event.timer_started_event_attributes
                started[event.event_id] = event.event_time.ToDatetime() + timedelta(
                    seconds=attrs.start_to_fire_timeout.ToTimedelta().total_seconds()
                )
            elif event.event_type == EventType.EVENT_TYPE_TIMER_FIRED:
                started.pop(event.timer_fired_event_attributes.started_event_id, None)
            elif event.event_type == EventType.EVENT_TYPE_TIMER_CANCELED:
                started.pop(event.timer_canceled_event_attributes.started_event_id, None)
        if started:
            return max(started.values()).isoformat()
    return None


async def flip(
    stack: HAStack, workload: Workload, name: str, source: Release, target: Release, *, migrate: bool
) -> dict[str, Any]:
    """Replace every control-plane process of `source` by `target`'s, one at a time."""
    workload.phase(name)
    started = time.monotonic()
    steps: list[dict[str, Any]] = []

    def step(what: str, since: float) -> None:
        steps.append({"step": what, "seconds": round(time.monotonic() - since, 2)})

    if migrate:
        t = time.monotonic()
        await stack.migrate(target)
        step(f"migrate with {target.label}", t)
    rollout: dict[str, object] = {}
    for index, role in enumerate((*WORKER_ROLES, *API_ROLES)):
        t = time.monotonic()
        await stack.replace(role, target)
        step(f"replace {role}", t)
        if index == 0:
            # The first worker of the target build polls: route new and running workflows to it, and wait
            # until nothing is pinned to the source build before its last worker goes.
            t = time.monotonic()
            rollout = await stack.rollout(target, wait_drained=True)
            step(f"rollout to {target.build_id}", t)
        await workload.mid_flip(name, index)
    return {
        "flip": name,
        "from": source.build_id,
        "to": target.build_id,
        "seconds": round(time.monotonic() - started, 1),
        "old_build_drained_after_s": rollout.get("previous_drained_after_s"),
        "rollout": rollout,
        "steps": steps,
    }


async def replay_all(stack: HAStack, release: Release) -> dict[str, Any]:
    """Replay every history of the run with `release`'s workflow code (both directions of compatibility)."""
    import json

    try:
        out = await stack.run_cli(release, "replay", "--query", WORKFLOW_QUERY)
    except RuntimeError as exc:
        return {"replayed": 0, "failed": -1, "error": str(exc)}
    summary: dict[str, Any] = json.loads(out.strip().splitlines()[-1])
    return summary


async def run_drill(
    stack: HAStack,
    old: Release,
    new: Release,
    *,
    steady_s: float,
    between_s: float,
    after_s: float,
    finish_timeout_s: float,
) -> dict[str, Any]:
    await stack.start_all(old)

    workload = Workload(
        gateway_url=stack.gateway_url,
        token=stack.token,
        nats_url=stack.nats_url,
        workdir=stack.workdir / "workload",
    )
    await workload.setup()
    await workload.start()
    workload.phase("before")
    await asyncio.sleep(steady_s)

    client = await stack.temporal_client()
    long_context = getattr(workload, "long_timer_context", None)
    timer_before = await pending_timer_fire_at(client, long_context) if long_context else None

    flips = [await flip(stack, workload, "upgrade", old, new, migrate=True)]
    workload.phase("between")
    await asyncio.sleep(between_s)
    flips.append(await flip(stack, workload, "downgrade", new, old, migrate=False))
    workload.phase("after")
    await asyncio.sleep(after_s)

    timer_after = await pending_timer_fire_at(client, long_context) if long_context else None
    load = await workload.finish(timeout_s=finish_timeout_s)
    replay = {release.label: await replay_all(stack, release) for release in (old, new)}

    stops = [asdict(e) for e in stack.events if e.action != "start"]
    unclean = [e for e in stops if e["exit_code"] != 0]
    due_at = getattr(workload, "long_timer_due_at", None)
    long_timer = {
        "keptn_context": long_context,
        "fire_at_before_flips": timer_before,
        "fire_at_after_flips": timer_after,
        "unchanged": timer_before is not None and timer_before == timer_after,
        # Temporal's timer against what the events say (previous task .finished + triggeredAfter): the
        # workflow starts the timer when it receives that .finished, a moment after the event's time.
        "seconds_after_previous_task_plus_15m": (
            round((datetime.fromisoformat(timer_after) - due_at.replace(tzinfo=None)).total_seconds(), 3)
            if timer_after and due_at
            else None
        ),
    }
    checks = {
        "load": bool(load.get("ok")),
        "graceful_exits": not unclean,
        "long_timer_unchanged": long_timer["unchanged"],
        "old_build_drained": all(f["old_build_drained_after_s"] is not None for f in flips),
        "replay_both_directions": all(
            r.get("failed") == 0 and r.get("replayed", 0) > 0 for r in replay.values()
        ),
    }
    return {
        "ok": all(checks.values()),
        "checks": checks,
        "releases": {r.label: {"revision": r.revision, "build_id": r.build_id} for r in (old, new)},
        "flips": flips,
        "long_timer": long_timer,
        "replay": replay,
        "processes": {"stops": stops, "unclean_exits": unclean},
        "load": load,
    }
