"""Sequences of one service queue, first in first out (Keptn's sequence dispatcher, KEP 39; integration test
`test_sequencequeue.go` `Test_SequenceQueue_TriggerMultiple`; BEHAVIOR b.4 step 3 and 11):

* of the sequences triggered for one project/stage/service, one runs at a time, in the order they were
  triggered: sequence i sends its first task only after sequence i-1 finished, so there is never more than
  one open task `.triggered` for the service (GET /event/triggered shows it);
* the others wait (GET /sequence shows `waiting`);
* another service of the same stage is not held up by that queue.
"""

from __future__ import annotations

import itertools
from typing import Any

from keptn.events import parse_keptn_time
from tests.engine.harness import Stack
from tests.engine.support import (
    ScopedExecutor,
    eventually,
    only,
    open_triggered,
    publish,
    silent,
    state_of,
    task_event,
    wait_state,
)
from tests.fixtures.databases import unique_name

SEQUENCES = 10


async def answer(stack: Stack, triggered: dict[str, Any]) -> None:
    await publish(stack, task_event(triggered, "started"))
    await publish(stack, task_event(triggered, "finished"))


async def the_open_task1(stack: Stack, project: str, service: str) -> dict[str, Any]:
    return only(await open_triggered(stack, "task1", project=project, stage="dev", service=service))


async def test_ten_sequences_of_one_service_run_one_at_a_time_in_order(stack: Stack) -> None:
    project = unique_name("queue")
    await stack.create_project(project, "sequencequeue-tests.shipyard.yaml")
    await stack.create_service(project, "myservice")
    await stack.create_service(project, "other")
    async with (
        silent(stack, "task1", project) as task1,
        ScopedExecutor(stack, "task2", project),
        ScopedExecutor(stack, "task3", project),
    ):
        contexts = [await stack.trigger(project, "dev", "mysequence", "myservice") for _ in range(SEQUENCES)]

        # The first runs, holding its task1 open; the other nine wait for it.
        first = await eventually(lambda: _open(stack, project, "myservice"), "task1 of the first sequence")
        assert first[0]["shkeptncontext"] == contexts[0]
        for context in contexts[1:]:
            await wait_state(stack, project, context, "waiting")
        assert await state_of(stack, project, contexts[0]) == "started"

        # Another service runs meanwhile: its task1 is open next to the queue's.
        parallel = await stack.trigger(project, "dev", "mysequence", "other")
        other_task1 = await eventually(lambda: _open(stack, project, "other"), "task1 of the other service")
        assert len(await open_triggered(stack, "task1", project=project)) == 2
        await answer(stack, only(other_task1))
        await stack.wait_for(project, parallel, "sh.keptn.event.dev.mysequence.finished")
        assert (await the_open_task1(stack, project, "myservice"))["shkeptncontext"] == contexts[0]

        # Then each in turn: exactly one open task1 for the service, and it is the next in line.
        for i, context in enumerate(contexts):
            current = await eventually(
                lambda context=context: _open_in(stack, project, "myservice", context),
                f"task1 of sequence {i}",
            )
            assert len(await open_triggered(stack, "task1", project=project, service="myservice")) == 1
            for later in contexts[i + 1 :]:
                assert await state_of(stack, project, later) == "waiting", (i, later)
            await answer(stack, current)
            await stack.wait_for(project, context, "sh.keptn.event.dev.mysequence.finished")
        assert await open_triggered(stack, "task1", project=project) == []

    # task1 was sent in trigger order (the other service's in between), each after the one before finished.
    myservice = [e["shkeptncontext"] for e in task1.received if e["data"]["service"] == "myservice"]
    assert myservice == contexts
    for before, after in itertools.pairwise(contexts):
        finished = only(await stack.events(project, before, "sh.keptn.event.dev.mysequence.finished"))
        started = only(await stack.events(project, after, "sh.keptn.event.task1.triggered"))
        assert parse_keptn_time(started["time"]) >= parse_keptn_time(finished["time"])
    for context in contexts:
        finished = only(await stack.events(project, context, "sh.keptn.event.dev.mysequence.finished"))
        assert finished["data"]["result"] == "pass"


async def _open(stack: Stack, project: str, service: str) -> list[dict[str, Any]]:
    return await open_triggered(stack, "task1", project=project, stage="dev", service=service)


async def _open_in(stack: Stack, project: str, service: str, context: str) -> dict[str, Any] | None:
    found = [e for e in await _open(stack, project, service) if e["shkeptncontext"] == context]
    return found[0] if found else None
