"""Worker process wiring: client, task queue, workflows, activities, graceful shutdown."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from temporalio.client import Client
from temporalio.worker import Worker

from activities.sequence import SequenceActivities
from eventbus.consumer import DurableConsumer
from eventbus.stream import CONTROL_PLANE_CONSUMER
from keptn_temporal import versioning
from keptn_temporal.settings import Settings
from keptn_temporal.temporal_client import connect_client
from keptn_temporal.versioning import build_id, deployment_config
from store.projects import ProjectRepository
from store.resources import ResourceRepository
from worker.intake import EventIntake
from worker.resources import WorkerResources
from worker.routing import SequenceRouter
from workflows.patches import activate_patch

log = logging.getLogger(__name__)

CONNECT_RETRY_S = 2.0
# A workflow task goes first to the worker that ran the workflow last (its sticky queue). If that worker was
# killed, the server usually notices at once, but not always: then the task waits this long before any
# worker may take it. Temporal's default of 10 s showed up as 10 s late timers after a kill -9 (tests/ha);
# a busy-but-alive worker that misses this only costs another worker a replay of the history.
STICKY_SCHEDULE_TO_START = timedelta(seconds=3)
FORCE_AFTER_S = 1.0


async def _connect_until_stopped(settings: Settings, stop: asyncio.Event) -> Client | None:
    """Retry the first connect: in a cluster the worker may start before Temporal is reachable, and a
    crash loop would only add restart back-off to the wait."""
    while not stop.is_set():
        try:
            return await connect_client(settings, identity=f"worker-{os.getpid()}@{build_id()}")
        except RuntimeError as exc:  # temporalio raises RuntimeError("Failed client connect: ...")
            log.warning("cannot reach Temporal at %s: %s", settings.effective_temporal_address, exc)
        try:
            await asyncio.wait_for(stop.wait(), CONNECT_RETRY_S)
        except TimeoutError:
            pass
    return None


async def run_worker(
    settings: Settings,
    *,
    workflows: Sequence[type],
    activities: Sequence[Callable[..., Any]],
    stop: asyncio.Event,
    client: Client | None = None,
) -> None:
    """Serve `settings.task_queue` until `stop` is set, then shut down gracefully.

    Shutdown stops polling at once (no new tasks are taken), lets in-flight activities finish for up to
    `settings.worker_grace_s` and then cancels them; Temporal retries cancelled or lost activities on
    another worker. Workflow tasks need no grace: their state is in the history, not in this process.
    Raises if the worker fails on its own (e.g. a fatal poll error), so the process exits non-zero.
    """
    if client is None:
        client = await _connect_until_stopped(settings, stop)
        if client is None:
            return
    worker = Worker(
        client,
        task_queue=settings.task_queue,
        workflows=list(workflows),
        activities=list(activities),
        graceful_shutdown_timeout=timedelta(seconds=settings.worker_grace_s),
        max_cached_workflows=settings.worker_cached_workflows,
        sticky_queue_schedule_to_start_timeout=STICKY_SCHEDULE_TO_START,
        deployment_config=deployment_config(settings.worker_versioning),
        patch_activation_callback=activate_patch,
    )
    run_task = asyncio.create_task(worker.run(), name="temporal-worker")
    promote_task = asyncio.create_task(_promote(client, settings), name="promote")
    stop_task = asyncio.create_task(stop.wait(), name="worker-stop")
    log.info(
        "worker (build %s) serving task queue %s on %s/%s",
        build_id(),
        settings.task_queue,
        settings.effective_temporal_address,
        settings.temporal_namespace,
    )
    done, _ = await asyncio.wait({run_task, stop_task}, return_when=asyncio.FIRST_COMPLETED)
    promote_task.cancel()
    if run_task in done:
        stop_task.cancel()
        run_task.result()  # re-raises the worker's fatal error
        raise RuntimeError("worker stopped on its own")
    log.info("stopping: no new tasks; in-flight activities get up to %.0fs", settings.worker_grace_s)
    await worker.shutdown()
    await run_task
    log.info("worker stopped")


async def _promote(client: Client, settings: Settings) -> None:
    """Make this build the deployment's current version when the policy says so. `always` is for a single
    worker (`up`): a restart with new code is the upgrade. `bootstrap` only activates a deployment that has
    no current version yet (new workflows would wait forever otherwise). With several workers, routing is
    the rollout's job (`keptn-temporal rollout`), never a replica's: replicas of two builds would flip it."""
    policy = settings.worker_promote
    if policy == "never" or not settings.worker_versioning:
        return
    try:
        state = await versioning.wait_registered(client, build_id(), timeout_s=60)
        if policy == "always" or state.current is None:
            previous = await versioning.set_current(client, build_id())
            if previous != build_id():
                log.info("build %s is now current (was %s)", build_id(), previous or "none")
    except Exception:
        # Not fatal: the worker serves whatever is routed to it; the operator can still run `rollout`.
        log.exception("could not make build %s current", build_id())


@dataclass
class Engine:
    """What a worker process runs besides the Temporal worker's registrations: the sequence activities, the
    router that starts sequences and delivers task events, and the intake feeding it from the KEPTN stream."""

    activities: SequenceActivities
    router: SequenceRouter
    intake: DurableConsumer


def wire_engine(settings: Settings, resources: WorkerResources, client: Client) -> Engine:
    sequence_activities = SequenceActivities(
        resources.db, resources.publisher, resources.events, client, settings.task_queue
    )
    router = SequenceRouter(
        settings,
        client,
        ResourceRepository(resources.db),
        sequence_activities.sequences,
        sequence_activities.triggered,
    )
    intake = DurableConsumer(
        resources.js,
        stream=settings.stream_name,
        durable=CONTROL_PLANE_CONSUMER,
        handler=EventIntake(resources.events, ProjectRepository(resources.db), router),
    )
    return Engine(sequence_activities, router, intake)


async def _serve(settings: Settings) -> int:
    import activities
    import workflows

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    first_signal_at = 0.0

    def on_signal(signum: int) -> None:
        nonlocal first_signal_at
        name = signal.Signals(signum).name
        if not stop.is_set():
            log.info("%s received", name)
            first_signal_at = time.monotonic()
            stop.set()
        elif time.monotonic() - first_signal_at > FORCE_AFTER_S:
            # A second Ctrl-C means "now": in-flight activities are retried elsewhere anyway. (One within
            # FORCE_AFTER_S is the same Ctrl-C delivered twice, e.g. by a terminal and by `make`.)
            log.warning("second %s: exiting without waiting", name)
            os._exit(130)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, on_signal, signum)
    resources = await WorkerResources.open(settings)
    try:
        client = await _connect_until_stopped(settings, stop)
        if client is None:
            return 0
        engine = wire_engine(settings, resources, client)
        # Both stop on the same signal: the consumer finishes the batch in hand and acks it, the Temporal
        # worker lets in-flight activities finish; only then are NATS drained and the database closed.
        async with asyncio.TaskGroup() as group:
            group.create_task(engine.intake.run(stop), name="event-intake")
            group.create_task(
                run_worker(
                    settings,
                    workflows=workflows.ALL_WORKFLOWS,
                    activities=[*activities.ALL_ACTIVITIES, *engine.activities.all()],
                    stop=stop,
                    client=client,
                ),
                name="temporal-worker",
            )
    except Exception:
        log.exception("worker failed")
        return 1
    finally:
        await resources.close()
    return 0


def main(settings: Settings) -> int:
    """Run the worker in the foreground; returns the exit code. The caller must end the process with
    os._exit(code): the Temporal SDK can crash during interpreter finalization (notes/temporal.md 4.3)."""
    return asyncio.run(_serve(settings))
