"""keptn.sequence: ports of shipyard-controller `models/sequence_execution_test.go` plus our deviations."""

from __future__ import annotations

from typing import Any

import pytest
from temporalio.converter import DataConverter

from keptn.sequence import (
    SEQUENCE_STATES,
    STATE_STARTED,
    STATE_WAITING_FOR_APPROVAL,
    TaskEvent,
    TaskExecution,
    TaskResult,
    merged_sequence_payload,
    next_sequence_trigger_data,
    next_task,
    sequence_finished_data,
    sequence_start_error,
    should_continue,
    state_after_task_triggered,
    task_finished_timeout_message,
    task_started_timeout_message,
    task_triggered_data,
)
from keptn.shipyard import parse_shipyard

SCOPE = ("my-project", "my-stage", "my-service")

_ids = iter(range(1_000_000))


def started(source: str = "svc", **kw: Any) -> TaskEvent:
    return TaskEvent(
        id=f"e{next(_ids)}", type="sh.keptn.event.deployment.started", source=source, kind="started", **kw
    )


def finished(
    result: str, status: str, data: dict[str, Any] | None = None, source: str = "svc", **kw: Any
) -> TaskEvent:
    return TaskEvent(
        id=f"e{next(_ids)}",
        type="sh.keptn.event.deployment.finished",
        source=source,
        kind="finished",
        result=result,
        status=status,
        data=data or {},
        **kw,
    )


def execution(*events: TaskEvent) -> TaskExecution:
    task = TaskExecution(name="deployment", triggered_id="my-triggered-id")
    for event in events:
        assert task.record(event)
    return task


def result(name: str, res: str, status: str, properties: dict[str, Any] | None = None) -> TaskResult:
    return TaskResult(name=name, result=res, status=status, properties=properties or {})


# ------------------------------------------------------------------------------------------------
# TestSequenceExecution_GetNextTriggeredEventData
# ------------------------------------------------------------------------------------------------


def test_initial_triggered_event_no_input_data() -> None:
    data = task_triggered_data(
        {"mytask": {"deploymentstrategy": ""}}, *SCOPE, [], "mytask", {"deploymentstrategy": "direct"}
    )
    assert data == {
        "project": "my-project",
        "stage": "my-stage",
        "service": "my-service",
        "mytask": {"deploymentstrategy": "direct"},
    }


def test_initial_triggered_event_with_input_data() -> None:
    data = task_triggered_data(
        {"configurationChange": {"image": "1.0"}}, *SCOPE, [], "mytask", {"foo": "bar"}
    )
    assert data == {
        "project": "my-project",
        "stage": "my-stage",
        "service": "my-service",
        "configurationChange": {"image": "1.0"},
        "mytask": {"foo": "bar"},
    }


def test_next_triggered_event_with_input_data_and_completed_tasks() -> None:
    previous = [result("mytask", "pass", "succeeded", {"mytask": {"bar": "foo"}})]
    data = task_triggered_data(
        {"configurationChange": {"image": "1.0"}}, *SCOPE, previous, "my-second-task", {"foo": "bar"}
    )
    assert data == {
        "project": "my-project",
        "stage": "my-stage",
        "service": "my-service",
        "configurationChange": {"image": "1.0"},
        "mytask": {"bar": "foo"},
        "my-second-task": {"foo": "bar"},
        "result": "pass",
        "status": "succeeded",
    }


def test_completed_tasks_with_same_properties() -> None:
    # Keptn's case has no next task (both tasks done): this is the merged payload of the sequence.
    input_properties = {
        "configurationChange": {"image": "1.0"},
        "deployment": {
            "deploymentURIsLocal": None,
            "deploymentURIsPublic": ["http://carts.sockshop-dev.svc.cluster.local:80"],
        },
        "test": {"start": "1", "end": "2"},
    }
    previous = [
        result(
            "deployment",
            "pass",
            "succeeded",
            {
                "deployment": {
                    "deploymentURIsLocal": ["http://carts.sockshop-dev:80"],
                    "deploymentURIsPublic": ["http://carts.sockshop-staging.svc.cluster.local:80"],
                },
                "message": "task finished",
            },
        ),
        result("test", "pass", "succeeded", {"test": {"start": "3", "end": "4"}, "message": "task finished"}),
    ]
    want = {
        "project": "my-project",
        "stage": "my-stage",
        "service": "my-service",
        "configurationChange": {"image": "1.0"},
        "deployment": {
            "deploymentURIsLocal": ["http://carts.sockshop-dev:80"],
            "deploymentURIsPublic": [
                "http://carts.sockshop-staging.svc.cluster.local:80",
                "http://carts.sockshop-dev.svc.cluster.local:80",
            ],
        },
        "test": {"start": "3", "end": "4"},
        "result": "pass",
        "status": "succeeded",
        "message": "",
    }
    assert (
        merged_sequence_payload(
            input_properties, previous, project="my-project", stage="my-stage", service="my-service"
        )
        == want
    )
    # The same with a task that has no properties configured.
    assert task_triggered_data(input_properties, *SCOPE, previous, "my-second-task", None) == want


def test_task_properties_none_vs_empty() -> None:
    assert "t" not in task_triggered_data({}, *SCOPE, [], "t", None)
    assert task_triggered_data({}, *SCOPE, [], "t", {})["t"] == {}


def test_message_only_blanked_when_present() -> None:
    assert "message" not in task_triggered_data({}, *SCOPE, [], "t", None)
    assert task_triggered_data({"message": None}, *SCOPE, [], "t", None)["message"] is None
    assert task_triggered_data({"message": "hi"}, *SCOPE, [], "t", None)["message"] == ""


def test_triggered_data_does_not_modify_inputs() -> None:
    input_properties = {"deployment": {"uris": ["a"]}}
    previous = [result("deployment", "pass", "succeeded", {"deployment": {"uris": ["b"]}})]
    props = {"x": {"y": "z"}}
    data = task_triggered_data(input_properties, *SCOPE, previous, "deployment", props)
    data["deployment"]["uris"].append("c")
    assert input_properties == {"deployment": {"uris": ["a"]}}
    assert previous[0].properties == {"deployment": {"uris": ["b"]}}
    assert props == {"x": {"y": "z"}}


def test_remediation_action_index_advances() -> None:
    # Keptn kept the first actionIndex (Merge ignored numbers); ours carries the latest one forward.
    input_properties = {"problem": {"problemTitle": "cpu"}, "get-action": {"actionIndex": 1}}
    previous = [result("get-action", "pass", "succeeded", {"get-action": {"actionIndex": 2}})]
    assert merged_sequence_payload(input_properties, previous)["get-action"] == {"actionIndex": 2}


# ------------------------------------------------------------------------------------------------
# TestSequenceExecution_CompleteCurrentTask / IsFinished
# ------------------------------------------------------------------------------------------------


def test_successful_task_with_one_executor() -> None:
    task = execution(started(), finished("pass", "succeeded", {"deploymentURI": "my-deployment-uri"}))
    assert task.is_finished()
    got = task.aggregate()
    assert (got.name, got.triggered_id, got.result, got.status) == (
        "deployment",
        "my-triggered-id",
        "pass",
        "succeeded",
    )
    assert got.properties == {"deploymentURI": "my-deployment-uri"}


def test_successful_task_with_multiple_executors() -> None:
    task = execution(
        started("a"),
        finished("pass", "succeeded", {"deploymentURI": "my-deployment-uri"}, "a"),
        started("b"),
        finished("pass", "succeeded", {"otherProperty": "otherValue"}, "b"),
    )
    got = task.aggregate()
    assert (got.result, got.status) == ("pass", "succeeded")
    assert got.properties == {"deploymentURI": "my-deployment-uri", "otherProperty": "otherValue"}


@pytest.mark.parametrize(
    ("second", "want"),
    [
        pytest.param(("fail", "succeeded"), ("fail", "succeeded"), id="one of them failed"),
        pytest.param(("warning", "succeeded"), ("warning", "succeeded"), id="one of them has warning result"),
        pytest.param(("fail", "errored"), ("fail", "errored"), id="one of them errored"),
        pytest.param(("fail", "some status"), ("fail", "unknown"), id="one of them status unknown"),
        pytest.param(("pass", "some status"), ("fail", "unknown"), id="unknown status forces fail"),
        pytest.param(("unknown result", "succeeded"), ("fail", "succeeded"), id="one of them result unknown"),
        pytest.param(("", "succeeded"), ("fail", "succeeded"), id="empty result counts as fail"),
        pytest.param(("pass", "aborted"), ("pass", "aborted"), id="one of them status aborted"),
    ],
)
def test_multiple_executors(second: tuple[str, str], want: tuple[str, str]) -> None:
    task = execution(
        started("a"), finished("pass", "succeeded", None, "a"), started("b"), finished(*second, None, "b")
    )
    got = task.aggregate()
    assert (got.result, got.status) == want


def test_status_precedence_errored_over_aborted() -> None:
    task = execution(started(), finished("pass", "aborted"), started(), finished("pass", "errored"))
    assert task.aggregate().status == "errored"


def test_multiple_executors_all_properties_nil() -> None:
    task = execution(started(), finished("pass", "succeeded"), started(), finished("fail", "errored"))
    got = task.aggregate()
    assert (got.result, got.status, got.properties) == ("fail", "errored", {})


def test_properties_are_merged_in_arrival_order() -> None:
    task = execution(
        started(),
        started(),
        finished("pass", "succeeded", {"deployment": {"uris": ["a"]}, "n": 1}),
        finished("pass", "succeeded", {"deployment": {"uris": ["b"]}, "n": 2}),
    )
    assert task.aggregate().properties == {"deployment": {"uris": ["b", "a"]}, "n": 2}


def test_message_and_labels_come_from_the_last_finished_event() -> None:
    task = execution(
        started(),
        finished("pass", "succeeded", {"labels": {"a": "1"}}, message="first"),
        started(),
        finished("pass", "succeeded", {"labels": {"b": "2"}}, message="second"),
    )
    got = task.aggregate()
    assert (got.message, got.labels) == ("second", {"b": "2"})


def test_is_finished() -> None:
    assert not TaskExecution().is_finished()
    # received two .started events, but only one .finished event
    assert not execution(started(), started(), finished("pass", "succeeded")).is_finished()
    # a lone .finished never completes a task (Keptn's rule, kept)
    assert not execution(finished("pass", "succeeded")).is_finished()
    assert execution(started(), finished("pass", "succeeded")).is_finished()
    # a .finished that arrives before its .started counts once the .started is there
    assert execution(finished("pass", "succeeded"), started()).is_finished()


def test_record_deduplicates_by_event_id() -> None:
    task = TaskExecution(name="deployment", triggered_id="t")
    s, f = started(), finished("pass", "succeeded")
    assert task.record(s)
    assert not task.record(TaskEvent(id=s.id, kind="started"))
    assert not task.record(TaskEvent(id=s.id, kind="finished"))  # an id is never counted twice
    assert not task.is_finished()
    assert task.record(f)
    assert not task.record(f)
    assert (len(task.started), len(task.finished)) == (1, 1)
    assert task.is_finished()


def test_record_ignores_other_kinds_and_keeps_events_without_id() -> None:
    task = TaskExecution()
    assert not task.record(TaskEvent(id="x", kind="status.changed"))
    assert not task.has_response()
    assert task.record(TaskEvent(kind="started"))
    assert task.record(TaskEvent(kind="started"))
    assert len(task.started) == 2 and task.has_response()


def test_task_event_from_cloud_event() -> None:
    ce = {
        "id": "abc",
        "type": "sh.keptn.event.deployment.finished",
        "source": "helm-service",
        "time": "2024-01-01T00:00:00.000Z",
        "triggeredid": "t1",
        "data": {
            "project": "p",
            "result": "pass",
            "status": "succeeded",
            "message": "done",
            "deployment": {"x": 1},
        },
    }
    event = TaskEvent.from_cloud_event(ce)
    assert event == TaskEvent(
        id="abc",
        type="sh.keptn.event.deployment.finished",
        source="helm-service",
        kind="finished",
        result="pass",
        status="succeeded",
        message="done",
        data=ce["data"],
        time="2024-01-01T00:00:00.000Z",
    )
    assert event is not None and event.data is not ce["data"]
    assert TaskEvent.from_cloud_event({**ce, "type": "sh.keptn.event.dev.delivery.finished"}) is None
    assert TaskEvent.from_cloud_event({**ce, "type": "sh.keptn.event.deployment.triggered"}) is None
    assert TaskEvent.from_cloud_event({**ce, "type": "sh.keptn.event.deployment.status.changed"}) is None
    assert TaskEvent.from_cloud_event({"type": "sh.keptn.event.test.started", "data": None}) == TaskEvent(
        type="sh.keptn.event.test.started", kind="started"
    )


# ------------------------------------------------------------------------------------------------
# TestSequenceExecution_GetNextTaskOfSequence / should_continue
# ------------------------------------------------------------------------------------------------

TASKS = ["deployment", "evaluation"]


@pytest.mark.parametrize(
    ("previous", "want"),
    [
        pytest.param([result("deployment", "fail", "succeeded")], None, id="failed previous task"),
        pytest.param([result("deployment", "", "errored")], None, id="errored previous task"),
        pytest.param([result("deployment", "pass", "succeeded")], "evaluation", id="previous succeeded"),
        pytest.param([], "deployment", id="no previous task"),
        pytest.param(
            [result("deployment", "pass", "succeeded"), result("evaluation", "pass", "succeeded")],
            None,
            id="all tasks finished",
        ),
        pytest.param([result("deployment", "warning", "succeeded")], "evaluation", id="warning continues"),
        pytest.param(
            [result("deployment", "pass", "aborted")], "evaluation", id="aborted with pass continues"
        ),
    ],
)
def test_next_task(previous: list[TaskResult], want: str | None) -> None:
    assert next_task(TASKS, previous) == want


@pytest.mark.parametrize(
    ("res", "status", "want"),
    [
        ("pass", "succeeded", True),
        ("warning", "succeeded", True),
        ("pass", "aborted", True),
        ("warning", "aborted", True),
        ("fail", "succeeded", False),
        ("pass", "errored", False),
        ("fail", "unknown", False),
    ],
)
def test_should_continue(res: str, status: str, want: bool) -> None:
    assert should_continue(result("t", res, status)) is want


def test_unknown_status_stops_the_sequence() -> None:
    task = execution(started(), finished("pass", "weird"))
    assert not should_continue(task.aggregate())


def test_state_after_task_triggered() -> None:
    assert state_after_task_triggered("approval") == STATE_WAITING_FOR_APPROVAL
    assert state_after_task_triggered("deployment") == STATE_STARTED


def test_states() -> None:
    assert SEQUENCE_STATES == (
        "triggered",
        "waiting",
        "started",
        "paused",
        "waitingForApproval",
        "finished",
        "aborted",
        "timedOut",
    )


# ------------------------------------------------------------------------------------------------
# Sequence end and follow-up
# ------------------------------------------------------------------------------------------------


def test_sequence_finished_data_from_last_task() -> None:
    last = TaskResult(
        name="evaluation", result="warning", status="succeeded", message="score 80", labels={"k": "v"}
    )
    assert sequence_finished_data({"labels": {"in": "put"}}, *SCOPE, last) == {
        "project": "my-project",
        "stage": "my-stage",
        "service": "my-service",
        "labels": {"k": "v"},
        "status": "succeeded",
        "result": "warning",
        "message": "score 80",
    }


def test_sequence_finished_data_labels_fall_back_to_input_and_empty_members_are_omitted() -> None:
    last = TaskResult(name="deployment", result="pass", status="succeeded")
    assert sequence_finished_data({"labels": {"buildId": "1"}}, *SCOPE, last) == {
        "project": "my-project",
        "stage": "my-stage",
        "service": "my-service",
        "labels": {"buildId": "1"},
        "status": "succeeded",
        "result": "pass",
    }
    assert "labels" not in sequence_finished_data({}, *SCOPE, last)


def test_sequence_finished_data_overrides() -> None:
    msg = task_started_timeout_message("sh.keptn.event.deployment.triggered")
    data = sequence_finished_data(
        {"labels": {"a": "b"}}, *SCOPE, None, status="errored", result="fail", message=msg
    )
    assert data == {
        "project": "my-project",
        "stage": "my-stage",
        "service": "my-service",
        "labels": {"a": "b"},
        "status": "errored",
        "result": "fail",
        "message": msg,
    }
    last = TaskResult(result="fail", status="errored", message="boom")
    aborted = sequence_finished_data({}, *SCOPE, last, status="aborted", result="pass", message="")
    assert (aborted["status"], aborted["result"], "message" in aborted) == ("aborted", "pass", False)


def test_next_sequence_trigger_data() -> None:
    payload = merged_sequence_payload(
        {
            "project": "p",
            "stage": "dev",
            "service": "s",
            "labels": {"a": "b"},
            "configurationChange": {"image": "1"},
        },
        [result("deployment", "pass", "succeeded", {"deployment": {"uri": "x"}, "message": "ok"})],
    )
    data = next_sequence_trigger_data(payload, "staging")
    assert data == {
        "project": "p",
        "stage": "staging",
        "service": "s",
        "labels": {"a": "b"},
        "configurationChange": {"image": "1"},
        "deployment": {"uri": "x"},
        "result": "pass",
        "status": "succeeded",
        "message": "",
    }
    assert payload["stage"] == "dev"  # not modified


# ------------------------------------------------------------------------------------------------
# Messages
# ------------------------------------------------------------------------------------------------

SHIPYARD = parse_shipyard(
    "apiVersion: spec.keptn.sh/0.2.3\nkind: Shipyard\nmetadata:\n  name: s\nspec:\n  stages:\n"
    "    - name: dev\n      sequences:\n        - name: delivery\n          tasks:\n            - name: deployment\n"
)


def test_sequence_start_error() -> None:
    assert sequence_start_error(SHIPYARD, "dev", "delivery") is None
    assert sequence_start_error(SHIPYARD, "dev", "evaluation") is None  # built-in
    assert sequence_start_error(SHIPYARD, "dev", "rollback") == (
        "Unable to start sequence rollback: no task sequence with name rollback found in stage dev"
    )
    assert sequence_start_error(SHIPYARD, "prod", "delivery") == (
        "Unable to start sequence delivery: no stage with name prod"
    )


def test_timeout_messages() -> None:
    assert task_started_timeout_message("sh.keptn.event.deployment.triggered") == (
        "sequence timed out while waiting for task sh.keptn.event.deployment.triggered to receive a correlating "
        ".started or .finished event"
    )
    assert task_finished_timeout_message("sh.keptn.event.deployment.triggered") == (
        "sequence timed out while waiting for task sh.keptn.event.deployment.triggered to receive a .finished "
        "event for every .started event"
    )


# ------------------------------------------------------------------------------------------------
# Temporal data converter round trip
# ------------------------------------------------------------------------------------------------


def test_dataclasses_round_trip_through_temporal_converter() -> None:
    converter = DataConverter.default.payload_converter
    task = execution(
        started(), finished("pass", "succeeded", {"deployment": {"n": 1.5, "ok": True, "l": [None]}})
    )
    values = [task, task.aggregate()]
    payloads = converter.to_payloads(values)
    assert converter.from_payloads(payloads, [TaskExecution, TaskResult]) == values


def test_old_history_without_new_fields_still_decodes() -> None:
    converter = DataConverter.default.payload_converter
    payloads = converter.to_payloads([{"name": "deployment"}])
    assert converter.from_payloads(payloads, [TaskResult]) == [TaskResult(name="deployment")]
