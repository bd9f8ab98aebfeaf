"""POST /api/v1/event validation; the cases follow Keptn's api/handlers/eventvalidation_test.go (1.4.5)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from keptn.errors import KeptnValidationError
from keptn.validation import DEFAULT_EVENT_SOURCE, is_parseable_uri_reference, prepare_inbound_event

NOW = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
SCOPE = {"project": "pr", "stage": "st", "service": "svc"}


def body(event_type: str, data: Any, **extra: Any) -> dict[str, Any]:
    return {"type": event_type, "source": "test-source", "specversion": "1.0", "data": data, **extra}


VALID = [
    pytest.param(body("sh.keptn.event.st.sequence.triggered", SCOPE), id="sequence triggered"),
    pytest.param(body("sh.keptn.event.task.started", SCOPE, triggeredid="t1"), id="task started"),
    pytest.param(
        body(
            "sh.keptn.event.task.finished",
            {**SCOPE, "result": "pass", "status": "succeeded"},
            triggeredid="t1",
        ),
        id="task finished",
    ),
    pytest.param(
        body(
            "sh.keptn.event.monitoring.configure", {"project": "pr", "service": "svc", "type": "prometheus"}
        ),
        id="monitoring configure",
    ),
    pytest.param(body("sh.keptn.event.task.invalidated", {}), id="task invalidated"),
    pytest.param(body("sh.keptn.events.problem", {}), id="problem"),
    pytest.param(body("sh.keptn.log.error", {}), id="log error"),
    # Keptn counts parts and does not check the prefix.
    pytest.param(body("com.example.x.st.seq.triggered", SCOPE), id="6 parts without keptn prefix"),
    pytest.param(
        body("sh.keptn.event.st.delivery.triggered", {**SCOPE, "labels": {"k": "v"}, "message": None}),
        id="labels and null common field",
    ),
]


@pytest.mark.parametrize("payload", VALID)
def test_valid_events(payload: dict[str, Any]) -> None:
    event = prepare_inbound_event(payload, now=NOW)
    assert event.type == payload["type"]
    assert event.data == payload["data"]


INVALID = [
    pytest.param(body("garbage", {}), "unknown event type", id="garbage type"),
    pytest.param(body("sh.keptn.event", {}), "unknown event type", id="3 parts"),
    pytest.param(body("sh.keptn.event.a.b.c.triggered", SCOPE), "unknown event type", id="7 parts"),
    pytest.param(body("sh.keptn.event..x.triggered", SCOPE), "unknown event type", id="empty part"),
    pytest.param(
        body("sh.keptn.event.stage.sequence.started", {}),
        "unknown event type action: started",
        id="sequence started not allowed",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.finished", SCOPE),
        "unknown event type action: finished",
        id="sequence finished not allowed",
    ),
    pytest.param(
        body("sh.keptn.event.test.status.changed", SCOPE, triggeredid="t"),
        "unknown event type action: changed",
        id="status.changed is 6 parts",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.triggered", {}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="sequence triggered without scope",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.triggered", {"service": "svc", "stage": "st"}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="sequence triggered project missing",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.triggered", {"project": "pr", "stage": "st"}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="sequence triggered service missing",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.triggered", {"project": "pr", "service": "svc"}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="sequence triggered stage missing",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.triggered", {**SCOPE, "project": ""}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="sequence triggered empty project",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.triggered", -1),
        "could not parse common event data",
        id="sequence triggered data not an object",
    ),
    pytest.param(
        body("sh.keptn.event.st.sequence.triggered", {**SCOPE, "project": 5}),
        "could not parse common event data",
        id="sequence triggered project not a string",
    ),
    pytest.param(
        body("sh.keptn.event.st.sequence.triggered", {**SCOPE, "labels": {"k": 1}}),
        "could not parse common event data",
        id="labels not strings",
    ),
    pytest.param(
        body("sh.keptn.event.stage.sequence.triggered", {**SCOPE, "stage": "anotherStage"}),
        "stage name in event data and in event type does not match",
        id="sequence triggered stage mismatch",
    ),
    pytest.param(
        body("sh.keptn.event.task.started", {"service": "svc", "stage": "st"}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="task started project missing",
    ),
    pytest.param(
        body("sh.keptn.event.task.started", {"project": "pr", "stage": "st"}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="task started service missing",
    ),
    pytest.param(
        body("sh.keptn.event.task.started", {"project": "pr", "service": "svc"}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="task started stage missing",
    ),
    pytest.param(
        body("sh.keptn.event.task.started", SCOPE),
        "mandatory field 'triggeredid' missing",
        id="task started triggeredid missing",
    ),
    pytest.param(
        body("sh.keptn.event.task.started", SCOPE, triggeredid=""),
        "mandatory field 'triggeredid' missing",
        id="task started triggeredid empty",
    ),
    pytest.param(
        body("sh.keptn.event.task.started", -1),
        "could not parse common event data",
        id="task started data not an object",
    ),
    pytest.param(
        body("sh.keptn.event.task.finished", {}),
        "mandatory field(s) 'project', 'stage' or 'service' missing",
        id="task finished without scope",
    ),
    pytest.param(
        body("sh.keptn.event.task.finished", {**SCOPE, "status": "succeeded"}, triggeredid="t"),
        "result field is not set",
        id="task finished result missing",
    ),
    pytest.param(
        body("sh.keptn.event.task.finished", {**SCOPE, "result": "pass"}, triggeredid="t"),
        "status field is not set",
        id="task finished status missing",
    ),
    pytest.param(
        body("sh.keptn.event.task.finished", {**SCOPE, "result": "pass", "status": "succeeded"}),
        "mandatory field 'triggeredid' missing",
        id="task finished triggeredid missing",
    ),
    pytest.param(
        body("sh.keptn.event.task.finished", [1]),
        "could not parse common event data",
        id="task finished data is a list",
    ),
    pytest.param(
        body("sh.keptn.event.task.triggered", {**SCOPE, "result": "pass", "status": "succeeded"}),
        "unknown event type action: triggered",
        id="task triggered not allowed",
    ),
    pytest.param(
        body("sh.keptn.event.monitoring.configure", {"project": "pr", "service": "svc"}),
        "mandatory fields(s) 'project', 'service' or 'type' missing",
        id="monitoring configure type missing",
    ),
    pytest.param(
        body("sh.keptn.event.monitoring.configure", {"service": "svc", "type": "prometheus"}),
        "mandatory fields(s) 'project', 'service' or 'type' missing",
        id="monitoring configure project missing",
    ),
    pytest.param(
        body("sh.keptn.event.monitoring.configure", "x"),
        "could not parse common event data",
        id="monitoring configure data not an object",
    ),
    # go-swagger schema checks, in the order of the generated Validate(): data, source, type.
    pytest.param(
        {"source": "s", "type": "sh.keptn.log.error"}, "data in body is required", id="data missing"
    ),
    pytest.param(
        {"source": "s", "type": "sh.keptn.log.error", "data": None},
        "data in body is required",
        id="data null",
    ),
    pytest.param(
        {"type": "sh.keptn.log.error", "data": {}}, "source in body is required", id="source missing"
    ),
    pytest.param({"source": "s", "data": {}}, "type in body is required", id="type missing"),
    pytest.param({}, "data in body is required", id="everything missing"),
    pytest.param(
        {"source": "s", "type": 5, "data": {}}, "type in body must be of type string", id="type not a string"
    ),
    pytest.param(
        body("sh.keptn.log.error", {}, shkeptncontext=7),
        "shkeptncontext in body must be of type string",
        id="context not a string",
    ),
    # Keptn forwarded these with non-object data; our event model needs an object.
    pytest.param(
        body("sh.keptn.log.error", "oops"), "data in body must be of type object", id="log data string"
    ),
    pytest.param(
        body("sh.keptn.event.task.invalidated", []),
        "data in body must be of type object",
        id="invalidated data list",
    ),
]


@pytest.mark.parametrize(("payload", "message"), INVALID)
def test_invalid_events(payload: dict[str, Any], message: str) -> None:
    with pytest.raises(KeptnValidationError) as err:
        prepare_inbound_event(payload, now=NOW)
    assert err.value.message == message


def test_body_must_be_an_object() -> None:
    with pytest.raises(KeptnValidationError) as err:
        prepare_inbound_event([], now=NOW)  # type: ignore[arg-type]
    assert err.value.message == "body in body must be of type object"


# --- normalisation --------------------------------------------------------------------------------


def test_normalisation_overwrites_what_keptn_overwrites() -> None:
    payload = body(
        "sh.keptn.event.task.started",
        SCOPE,
        triggeredid="t1",
        gitcommitid="abc",
        id="client-id",
        time="1999-01-01T00:00:00.000Z",
        contenttype="text/plain",
        specversion="0.3",
        shkeptncontext="3F709BB7-0246-403E-83A0-1F436F7C6C09",
        shkeptnspecversion="0.2.3",
        extensions={"x": 1},
        custom="kept",
    )
    event = prepare_inbound_event(payload, now=NOW)
    assert event.id == "client-id"  # deliberate deviation: kept so retries de-duplicate
    assert event.time == NOW
    assert event.contenttype == "application/json"
    assert event.specversion == "1.0"
    assert event.source == "test-source"
    assert event.shkeptncontext == "3f709bb7-0246-403e-83a0-1f436f7c6c09"
    assert event.shkeptnspecversion == "0.2.3"
    assert event.triggeredid == "t1" and event.gitcommitid == "abc"
    wire = event.to_json_dict()
    assert wire["time"] == "2024-05-06T07:08:09.123Z"
    assert wire["custom"] == "kept"
    assert wire["extensions"] == {"x": 1}
    assert wire["data"] == SCOPE
    assert payload["id"] == "client-id" and payload["time"] == "1999-01-01T00:00:00.000Z"  # input untouched


def test_normalisation_fills_defaults() -> None:
    event = prepare_inbound_event(
        body("sh.keptn.event.st.delivery.triggered", SCOPE, id="", triggeredid=""), now=NOW
    )
    assert uuid.UUID(event.id or "").version == 4
    assert event.shkeptnspecversion == "0.2.4"
    assert uuid.UUID(event.shkeptncontext or "").version == 4
    wire = event.to_json_dict()
    assert "triggeredid" not in wire and "gitcommitid" not in wire


def test_ids_and_contexts_are_fresh_per_call() -> None:
    payload = body("sh.keptn.event.st.delivery.triggered", SCOPE)
    first, second = prepare_inbound_event(payload, now=NOW), prepare_inbound_event(payload, now=NOW)
    assert first.id != second.id
    assert first.shkeptncontext != second.shkeptncontext


def test_non_uuid_context_is_derived_deterministically() -> None:
    payload = body("sh.keptn.event.st.delivery.triggered", SCOPE, shkeptncontext="a")
    assert prepare_inbound_event(payload, now=NOW).shkeptncontext == "61202020-2020-4020-a020-202020202020"


def test_naive_now_is_taken_as_utc() -> None:
    event = prepare_inbound_event(body("sh.keptn.log.error", {}), now=datetime(2024, 1, 2, 3, 4, 5))
    assert event.to_json_dict()["time"] == "2024-01-02T03:04:05.000Z"


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("", DEFAULT_EVENT_SOURCE),
        (
            "https://github.com/keptn/keptn/cli#configuration-change",
            "https://github.com/keptn/keptn/cli#configuration-change",
        ),
        ("my-service", "my-service"),
        ("urn:keptn:cli", "urn:keptn:cli"),
        (":nope", DEFAULT_EVENT_SOURCE),
        ("a:b/c", "a:b/c"),
        ("1:b", DEFAULT_EVENT_SOURCE),
        ("bad\x7fsource", DEFAULT_EVENT_SOURCE),
        ("http://host:port/x", DEFAULT_EVENT_SOURCE),
        ("%zz", DEFAULT_EVENT_SOURCE),
    ],
)
def test_source_defaulting(source: str, expected: str) -> None:
    event = prepare_inbound_event({**body("sh.keptn.log.error", {}), "source": source}, now=NOW)
    assert event.source == expected


@pytest.mark.parametrize(
    "value",
    [
        "x",
        "/a/b?q=%zz",
        "http://h:8080/p",
        "http://[::1]:80/",
        "mailto:a@b",
        "https://u:p@h/p",
        "a/b:c",
        "ab:c/d:e",
    ],
)
def test_parseable_uri_references(value: str) -> None:
    assert is_parseable_uri_reference(value)


@pytest.mark.parametrize(
    "value", ["http://h:80x/", "http://[::1/", "http://h h/", "a b\n", "/a%2", "#%g0", "1a:b"]
)
def test_unparseable_uri_references(value: str) -> None:
    assert not is_parseable_uri_reference(value)
