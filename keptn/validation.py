"""Validation and normalisation of events POSTed to `/api/v1/event` (Keptn api-service, EVENT_VALIDATION on).

Mirrors Keptn 1.4.5: go-swagger's body checks (`api/models/keptn_context_extended_c_e.go`), then
`api/handlers/eventvalidation.go`, then the rewrite done in `api/handlers/event.go`. Messages are Keptn's.

Deliberate deviations from Keptn:

* **`id` is kept** when the client sends a non-empty string; only a missing/empty id gets a fresh uuid4. Keptn
  always overwrote it, so a client retrying a POST after a lost response produced a second event. Keeping the
  id lets the event store and the JetStream `Nats-Msg-Id` de-duplicate such a retry.
* `shkeptnspecversion` is kept when sent and otherwise set to "0.2.4" (go-utils' version). Keptn's API model
  had no such field, so Keptn dropped whatever the client sent and published the event without one.
* Unknown top-level fields are kept (Keptn's API model silently dropped them).
* `source` is kept verbatim when it parses as a URI reference (Keptn re-serialised it through Go's url.URL,
  which may percent-escape characters). The parse check approximates Go's `net/url.Parse`.
* `data` must end up a JSON object. Keptn passed non-object `data` through for the types it does not inspect
  (`sh.keptn.log.error`, `sh.keptn.events.problem`, `*.invalidated`); we reject it with go-swagger's wording.
* A non-string value for a string field is rejected with "<field> in body must be of type string"
  (Keptn failed body decoding with a long Go unmarshal message).
* The client's `time` is ignored without being validated (it is overwritten with `now` in both systems).
* Keys in `data` are case-sensitive (Go's JSON decoder matched `Project` to `project`).

The 64 KB body limit (MAX_EVENT_SIZE_KB) belongs to the HTTP layer and is not checked here.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from keptn.errors import KeptnValidationError
from keptn.events import (
    CLOUDEVENTS_SPEC_VERSION,
    KEPTN_SPEC_VERSION,
    KeptnContextExtendedCE,
    keptn_context_from,
)

DEFAULT_EVENT_SOURCE = "https://github.com/keptn/keptn/api"
CONTENT_TYPE_JSON = "application/json"

# Types Keptn forwards without looking at them.
UNVALIDATED_EVENT_TYPES = frozenset({"sh.keptn.log.error", "sh.keptn.events.problem"})
MONITORING_CONFIGURE_EVENT_TYPE = "sh.keptn.event.monitoring.configure"

# Only sequences may be started from outside; task .triggered events are the control plane's alone.
ALLOWED_SEQUENCE_KINDS = ("triggered",)
ALLOWED_TASK_KINDS = ("started", "finished", "invalidated")

_STRING_FIELDS = (
    "type",
    "source",
    "id",
    "specversion",
    "contenttype",
    "shkeptncontext",
    "triggeredid",
    "gitcommitid",
    "shkeptnspecversion",
)
# go-utils v0_2_0.EventData: every member must decode as a string, labels as map[string]string.
_EVENT_DATA_STRING_FIELDS = ("project", "stage", "service", "status", "result", "message")

MSG_UNKNOWN_EVENT_TYPE = "unknown event type"
MSG_BAD_EVENT_DATA = "could not parse common event data"
MSG_SCOPE_MISSING = "mandatory field(s) 'project', 'stage' or 'service' missing"
MSG_TRIGGEREDID_MISSING = "mandatory field 'triggeredid' missing"
MSG_RESULT_MISSING = "result field is not set"
MSG_STATUS_MISSING = "status field is not set"
MSG_STAGE_MISMATCH = "stage name in event data and in event type does not match"
# Keptn's text names 'service' although only project and type are checked.
MSG_MONITORING_FIELDS_MISSING = "mandatory fields(s) 'project', 'service' or 'type' missing"


def prepare_inbound_event(body: Mapping[str, Any], *, now: datetime) -> KeptnContextExtendedCE:
    """Validate a POST /api/v1/event body and return the event the control plane publishes.

    Raises `KeptnValidationError` (HTTP 400) with Keptn's message when the body breaks a rule.
    """
    if not isinstance(body, Mapping):
        raise KeptnValidationError("body in body must be of type object")
    _check_swagger_schema(body)
    _check_keptn_rules(body["type"], body["data"], body.get("triggeredid") or "")
    if not isinstance(body["data"], Mapping):
        raise KeptnValidationError("data in body must be of type object")

    event: dict[str, Any] = dict(body)
    event["id"] = body.get("id") or str(uuid.uuid4())
    event["time"] = now
    event["contenttype"] = CONTENT_TYPE_JSON
    event["specversion"] = CLOUDEVENTS_SPEC_VERSION
    event["source"] = _normalise_source(body.get("source"))
    event["shkeptnspecversion"] = body.get("shkeptnspecversion") or KEPTN_SPEC_VERSION
    event["shkeptncontext"] = keptn_context_from(body.get("shkeptncontext"))
    # Go's omitempty never put empty extension strings on the wire; None gives the same JSON.
    for name in ("triggeredid", "gitcommitid"):
        if not event.get(name):
            event[name] = None
    try:
        return KeptnContextExtendedCE.model_validate(event)
    except ValidationError as exc:  # pragma: no cover - every field was checked above
        raise KeptnValidationError(f"invalid event: {exc.errors()[0]['msg']}") from exc


def _check_swagger_schema(body: Mapping[str, Any]) -> None:
    # go-swagger reports the first failing property, in the order of its generated Validate().
    for name in ("data", "source", "type"):
        if body.get(name) is None:
            raise KeptnValidationError(f"{name} in body is required")
    for name in _STRING_FIELDS:
        value = body.get(name)
        if value is not None and not isinstance(value, str):
            raise KeptnValidationError(f"{name} in body must be of type string")


def _check_keptn_rules(event_type: str, data: Any, triggeredid: str) -> None:
    """`Validate()` of eventvalidation.go. Like Keptn, sequence/task types are recognised by counting
    non-empty dot-separated parts (6 or 5), without checking the `sh.keptn.event.` prefix."""
    if event_type in UNVALIDATED_EVENT_TYPES:
        return
    if event_type == MONITORING_CONFIGURE_EVENT_TYPE:
        fields = _decode_event_data(data, extra=("type",))
        if not fields.get("project") or not fields.get("type"):
            raise KeptnValidationError(MSG_MONITORING_FIELDS_MISSING)
        return

    parts = event_type.split(".")
    if any(p == "" for p in parts) or len(parts) not in (5, 6):
        raise KeptnValidationError(MSG_UNKNOWN_EVENT_TYPE)
    kind = parts[-1]
    if len(parts) == 6:
        if kind not in ALLOWED_SEQUENCE_KINDS:
            raise KeptnValidationError(f"unknown event type action: {kind}")
        fields = _decode_event_data(data)
        _require_scope(fields)
        if fields["stage"] != parts[3]:
            raise KeptnValidationError(MSG_STAGE_MISMATCH)
        return

    if kind not in ALLOWED_TASK_KINDS:
        raise KeptnValidationError(f"unknown event type action: {kind}")
    if kind == "invalidated":
        return
    fields = _decode_event_data(data)
    _require_scope(fields)
    if kind == "finished":
        if not fields.get("result"):
            raise KeptnValidationError(MSG_RESULT_MISSING)
        if not fields.get("status"):
            raise KeptnValidationError(MSG_STATUS_MISSING)
    if not triggeredid:
        raise KeptnValidationError(MSG_TRIGGEREDID_MISSING)


def _decode_event_data(data: Any, extra: tuple[str, ...] = ()) -> dict[str, str]:
    """What Go's json.Unmarshal into `v0_2_0.EventData` accepts: an object whose common members are strings
    (or null) and whose `labels` is an object of strings (or null)."""
    if not isinstance(data, Mapping):
        raise KeptnValidationError(MSG_BAD_EVENT_DATA)
    fields: dict[str, str] = {}
    for name in (*_EVENT_DATA_STRING_FIELDS, *extra):
        value = data.get(name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise KeptnValidationError(MSG_BAD_EVENT_DATA)
        fields[name] = value
    labels = data.get("labels")
    if labels is not None and (
        not isinstance(labels, Mapping)
        or any(v is not None and not isinstance(v, str) for v in labels.values())
    ):
        raise KeptnValidationError(MSG_BAD_EVENT_DATA)
    return fields


def _require_scope(fields: Mapping[str, str]) -> None:
    if not fields.get("project") or not fields.get("stage") or not fields.get("service"):
        raise KeptnValidationError(MSG_SCOPE_MISSING)


def _normalise_source(source: str | None) -> str:
    if source and is_parseable_uri_reference(source):
        return source
    return DEFAULT_EVENT_SOURCE


_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*")
_BAD_ESCAPE_RE = re.compile(r"%(?![0-9A-Fa-f]{2})")
# Characters Go's url package tolerates in a host (besides letters, digits and percent escapes).
_HOST_CHARS_RE = re.compile(r"[A-Za-z0-9\-._~!$&'()*+,;=:\[\]<>\"%]*")
_PORT_RE = re.compile(r"(:[0-9]*)?")


def is_parseable_uri_reference(value: str) -> bool:
    """Approximation of Go's `url.Parse(value) == nil` for the cases that occur in practice: control
    characters, an empty scheme, a colon in the first segment of a relative reference, invalid percent escapes
    in path or fragment, and an invalid host or port."""
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return False
    rest, _, fragment = value.partition("#")
    if _BAD_ESCAPE_RE.search(fragment):
        return False
    if rest.startswith(":"):
        return False  # "missing protocol scheme"
    scheme = ""
    colon = rest.find(":")
    if colon > 0 and _SCHEME_RE.fullmatch(rest[:colon]):
        scheme, rest = rest[:colon], rest[colon + 1 :]
    rest = rest.partition("?")[0]  # Go does not validate the query when parsing
    if scheme and not rest.startswith("/"):
        return True  # opaque URI such as "mailto:x"
    if not scheme and ":" in rest.partition("/")[0]:
        return False  # "first path segment in URL cannot contain colon"
    if rest.startswith("//"):
        authority, slash, path = rest[2:].partition("/")
        if not _is_valid_authority(authority):
            return False
        rest = slash + path
    return _BAD_ESCAPE_RE.search(rest) is None


def _is_valid_authority(authority: str) -> bool:
    host = authority.rpartition("@")[2]
    if host.startswith("["):
        end = host.find("]")
        if end < 0:
            return False
        port = host[end + 1 :]
    else:
        colon = host.rfind(":")
        port = host[colon:] if colon >= 0 else ""
        host_only = host[:colon] if colon >= 0 else host
        if not _HOST_CHARS_RE.fullmatch(host_only) or _BAD_ESCAPE_RE.search(host_only):
            return False
    return _PORT_RE.fullmatch(port) is not None
