from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from keptn.events import (
    EventType,
    KeptnContextExtendedCE,
    format_keptn_time,
    keptn_context_from,
    parse_event_type,
    parse_keptn_time,
    sequence_event_type,
    task_event_type,
)

# --- event types ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "sh.keptn.event.dev.delivery.triggered",
            EventType(
                raw="sh.keptn.event.dev.delivery.triggered",
                kind="triggered",
                stage="dev",
                sequence="delivery",
            ),
        ),
        (
            "sh.keptn.event.production.remediation.finished",
            EventType(
                raw="sh.keptn.event.production.remediation.finished",
                kind="finished",
                stage="production",
                sequence="remediation",
            ),
        ),
        (
            "sh.keptn.event.deployment.triggered",
            EventType(raw="sh.keptn.event.deployment.triggered", kind="triggered", task="deployment"),
        ),
        (
            "sh.keptn.event.get-sli.started",
            EventType(raw="sh.keptn.event.get-sli.started", kind="started", task="get-sli"),
        ),
        (
            "sh.keptn.event.approval.invalidated",
            EventType(raw="sh.keptn.event.approval.invalidated", kind="invalidated", task="approval"),
        ),
        (
            "sh.keptn.event.test.status.changed",
            EventType(raw="sh.keptn.event.test.status.changed", kind="status.changed", task="test"),
        ),
    ],
)
def test_parse_event_type(raw: str, expected: EventType) -> None:
    assert parse_event_type(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "garbage",
        "sh.keptn.log.error",
        "sh.keptn.events.problem",
        "sh.keptn.event.monitoring.configure",  # not a task kind
        "sh.keptn.event.dev.delivery.configure",
        "sh.keptn.event..triggered",
        "sh.keptn.event.dev..triggered",
        "sh.keptn.event.a.b.c.triggered",  # 7 parts
        "com.example.event.dev.delivery.triggered",  # not a Keptn event
        "sh.keptn.event.dev.delivery.status.changed",  # 7 parts
    ],
)
def test_parse_event_type_rejects(raw: str) -> None:
    assert parse_event_type(raw) is None


def test_event_type_flags() -> None:
    seq = parse_event_type("sh.keptn.event.dev.delivery.finished")
    task = parse_event_type("sh.keptn.event.test.status.changed")
    assert seq is not None and seq.is_sequence_event and not seq.is_task_event
    assert task is not None and task.is_task_event and not task.is_sequence_event


def test_event_type_builders_round_trip() -> None:
    assert sequence_event_type("dev", "delivery", "triggered") == "sh.keptn.event.dev.delivery.triggered"
    assert task_event_type("deployment", "finished") == "sh.keptn.event.deployment.finished"
    assert task_event_type("test", "status.changed") == "sh.keptn.event.test.status.changed"
    parsed = parse_event_type(task_event_type("test", "status.changed"))
    assert parsed is not None and parsed.task == "test" and parsed.kind == "status.changed"


# --- time -----------------------------------------------------------------------------------------


def test_format_keptn_time_truncates_to_milliseconds_in_utc() -> None:
    dt = datetime(2021, 3, 4, 5, 6, 7, 891999, tzinfo=UTC)
    assert format_keptn_time(dt) == "2021-03-04T05:06:07.891Z"
    plus_two = timezone(timedelta(hours=2))
    assert format_keptn_time(datetime(2021, 3, 4, 7, 6, 7, tzinfo=plus_two)) == "2021-03-04T05:06:07.000Z"
    assert format_keptn_time(datetime(2021, 3, 4, 5, 6, 7)) == "2021-03-04T05:06:07.000Z"  # naive = UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2021-03-04T05:06:07.891Z", datetime(2021, 3, 4, 5, 6, 7, 891000, tzinfo=UTC)),
        ("2021-03-04T05:06:07Z", datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)),
        ("2021-03-04T05:06:07.123456789Z", datetime(2021, 3, 4, 5, 6, 7, 123456, tzinfo=UTC)),
        ("2021-03-04T07:06:07.5+02:00", datetime(2021, 3, 4, 5, 6, 7, 500000, tzinfo=UTC)),
        ("2021-03-04T05:06:07", datetime(2021, 3, 4, 5, 6, 7, tzinfo=UTC)),
    ],
)
def test_parse_keptn_time(text: str, expected: datetime) -> None:
    parsed = parse_keptn_time(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize("text", ["", "yesterday", "2021-03-04", "2021-13-04T05:06:07Z", "2021-03-04T05:06Z"])
def test_parse_keptn_time_rejects(text: str) -> None:
    with pytest.raises(ValueError, match="invalid Keptn timestamp"):
        parse_keptn_time(text)


# --- keptnContext ---------------------------------------------------------------------------------


def test_keptn_context_keeps_uuid_normalised() -> None:
    ctx = "3f709bb7-0246-403e-83a0-1f436f7c6c09"
    assert keptn_context_from(ctx) == ctx
    assert keptn_context_from(ctx.upper()) == ctx
    assert keptn_context_from("{" + ctx + "}") == ctx
    assert keptn_context_from("urn:uuid:" + ctx) == ctx
    assert keptn_context_from(ctx.replace("-", "")) == ctx


@pytest.mark.parametrize("value", [None, ""])
def test_keptn_context_generated_when_empty(value: str | None) -> None:
    first, second = keptn_context_from(value), keptn_context_from(value)
    assert first != second
    assert uuid.UUID(first).version == 4


def test_keptn_context_derived_deterministically_like_keptn() -> None:
    # Keptn (api/handlers/event.go) used the string as uuid.New()'s random source: "a" is padded to 16 bytes
    # with spaces (0x20), then the version-4 and variant bits are set.
    assert keptn_context_from("a") == "61202020-2020-4020-a020-202020202020"
    # >= 16 bytes: the first 16 bytes are used, the rest is ignored.
    assert keptn_context_from("my-keptn-context-1") == keptn_context_from("my-keptn-context-2")
    # b"my-keptn-context": byte 6 "t" (0x74) -> 0x44, byte 8 "-" (0x2d) -> 0xad.
    assert keptn_context_from("my-keptn-context-1") == "6d792d6b-6570-446e-ad63-6f6e74657874"
    derived = keptn_context_from("not-a-uuid")
    assert derived == keptn_context_from("not-a-uuid")
    assert uuid.UUID(derived).version == 4


def test_keptn_context_does_not_accept_pythons_lenient_uuid_spellings() -> None:
    # uuid.UUID() would accept hyphens anywhere; Go's uuid.Parse (and therefore Keptn) does not.
    odd = "3f709bb70246-403e-83a0-1f436f7c6c09-"
    assert keptn_context_from(odd) != "3f709bb7-0246-403e-83a0-1f436f7c6c09"
    assert keptn_context_from(odd) == keptn_context_from(odd)


# --- model ----------------------------------------------------------------------------------------


def test_event_model_round_trip_keeps_extra_fields_and_formats_time() -> None:
    wire = {
        "specversion": "1.0",
        "id": "e1",
        "source": "test",
        "type": "sh.keptn.event.dev.delivery.triggered",
        "time": "2021-03-04T05:06:07.891234Z",
        "contenttype": "application/json",
        "data": {"project": "p", "stage": "dev", "service": "s", "nested": {"x": None}},
        "shkeptncontext": "3f709bb7-0246-403e-83a0-1f436f7c6c09",
        "shkeptnspecversion": "0.2.4",
        "customextension": {"a": 1},
    }
    event = KeptnContextExtendedCE.model_validate(wire)
    assert event.time == datetime(2021, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
    out = event.to_json_dict()
    assert out["time"] == "2021-03-04T05:06:07.891Z"
    assert out["customextension"] == {"a": 1}
    assert out["data"]["nested"] == {"x": None}  # nulls inside data survive
    assert "triggeredid" not in out and "gitcommitid" not in out and "extensions" not in out
    assert {k: v for k, v in out.items() if k != "time"} == {k: v for k, v in wire.items() if k != "time"}
    assert event.event_type == parse_event_type(wire["type"])


def test_event_model_requires_type_and_defaults_specversion() -> None:
    event = KeptnContextExtendedCE(type="sh.keptn.event.test.started")
    assert event.specversion == "1.0"
    assert event.data == {}
    assert event.to_json_dict() == {"specversion": "1.0", "type": "sh.keptn.event.test.started", "data": {}}
    with pytest.raises(ValueError):
        KeptnContextExtendedCE.model_validate({"data": {}})


def test_event_model_normalises_aware_time_to_utc() -> None:
    event = KeptnContextExtendedCE(
        type="t.a.b.c.started", time=datetime(2021, 1, 1, 2, 0, tzinfo=timezone(timedelta(hours=2)))
    )
    assert event.time == datetime(2021, 1, 1, 0, 0, tzinfo=UTC)
    assert event.to_json_dict()["time"] == "2021-01-01T00:00:00.000Z"
