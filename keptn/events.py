"""Keptn CloudEvents: the wire model, event-type grammar, Keptn timestamps and keptnContext derivation.

Event types (go-utils `pkg/lib/v0_2_0/events.go`) are split on dots:

* ``sh.keptn.event.<stage>.<sequence>.<kind>`` (6 parts) is a *sequence* event;
* ``sh.keptn.event.<task>.<kind>`` (5 parts) is a *task* event;
* ``sh.keptn.event.<task>.status.changed`` is also 6 parts, but it is a *task* event with the two-word
  kind ``status.changed``. `parse_event_type` recognises it as such (kind ``"status.changed"``). This is
  unambiguous because ``changed`` is never a sequence kind. Keptn's own part counting would call it a
  sequence event, which is why Keptn's API refuses it (see `keptn.validation`).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

KEPTN_EVENT_PREFIX = "sh.keptn.event."
KEPTN_SPEC_VERSION = "0.2.4"
CLOUDEVENTS_SPEC_VERSION = "1.0"

KIND_TRIGGERED = "triggered"
KIND_STARTED = "started"
KIND_STATUS_CHANGED = "status.changed"
KIND_FINISHED = "finished"
KIND_INVALIDATED = "invalidated"

SEQUENCE_KINDS = frozenset({KIND_TRIGGERED, KIND_STARTED, KIND_FINISHED, KIND_INVALIDATED})
TASK_KINDS = frozenset({KIND_TRIGGERED, KIND_STARTED, KIND_STATUS_CHANGED, KIND_FINISHED, KIND_INVALIDATED})


# ------------------------------------------------------------------------------------------------
# Timestamps
# ------------------------------------------------------------------------------------------------

# Keptn writes `2006-01-02T15:04:05.000Z` and reads that, RFC 3339 (any fraction, any offset) and finally a
# zone-less `2006-01-02T15:04:05` (go-utils `timeutils.ParseTimestamp`).
_KEPTN_TIME_RE = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt](?P<clock>\d{2}:\d{2}:\d{2})(?:\.(?P<frac>\d+))?"
    r"(?P<zone>[Zz]|[+-]\d{2}:\d{2})?"
)


def _as_utc(dt: datetime) -> datetime:
    # Naive datetimes are taken to be UTC: Keptn's zone-less fallback format means UTC as well.
    if dt.tzinfo is None:
        return dt.replace(tzinfo=UTC)
    return dt.astimezone(UTC)


def format_unix_nanos(dt: datetime) -> str:
    """Keptn's other time format (creationDate, lastEventTypes): Unix nanoseconds in a string."""
    return str(int(_as_utc(dt).timestamp() * 1_000_000) * 1000)


def format_keptn_time(dt: datetime) -> str:
    """`2006-01-02T15:04:05.000Z`: UTC, milliseconds truncated (Go's Format truncates, it never rounds)."""
    u = _as_utc(dt)
    return (
        f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
        f".{u.microsecond // 1000:03d}Z"
    )


def parse_keptn_time(text: str) -> datetime:
    """Parse any timestamp Keptn accepts; returns an aware UTC datetime. Raises ValueError otherwise."""
    m = _KEPTN_TIME_RE.fullmatch(text.strip()) if isinstance(text, str) else None
    if m is None:
        raise ValueError(f"invalid Keptn timestamp {text!r}")
    # Go keeps nanoseconds; Python stops at microseconds, so extra digits are truncated.
    frac = (m["frac"] or "")[:6].ljust(6, "0")
    zone = m["zone"] or "Z"
    iso = f"{m['date']}T{m['clock']}.{frac}{'+00:00' if zone in 'Zz' else zone}"
    try:
        return datetime.fromisoformat(iso).astimezone(UTC)
    except ValueError as exc:
        raise ValueError(f"invalid Keptn timestamp {text!r}") from exc


# ------------------------------------------------------------------------------------------------
# Event types
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EventType:
    """A parsed `sh.keptn.event.*` type. Sequence events set `stage`/`sequence`, task events set `task`."""

    raw: str
    kind: str
    task: str | None = None
    stage: str | None = None
    sequence: str | None = None

    @property
    def is_sequence_event(self) -> bool:
        return self.sequence is not None

    @property
    def is_task_event(self) -> bool:
        return self.task is not None


def parse_event_type(raw: str) -> EventType | None:
    """Parse a Keptn sequence or task event type; None for anything else (including unknown kinds such as
    `sh.keptn.event.monitoring.configure` and types without the `sh.keptn.event.` prefix)."""
    if not isinstance(raw, str) or not raw.startswith(KEPTN_EVENT_PREFIX):
        return None
    parts = raw.split(".")
    if any(p == "" for p in parts):
        return None
    if len(parts) == 5 and parts[4] in TASK_KINDS:
        return EventType(raw=raw, kind=parts[4], task=parts[3])
    if len(parts) == 6:
        if f"{parts[4]}.{parts[5]}" == KIND_STATUS_CHANGED:
            return EventType(raw=raw, kind=KIND_STATUS_CHANGED, task=parts[3])
        if parts[5] in SEQUENCE_KINDS:
            return EventType(raw=raw, kind=parts[5], stage=parts[3], sequence=parts[4])
    return None


def sequence_event_type(stage: str, sequence: str, kind: str) -> str:
    return f"{KEPTN_EVENT_PREFIX}{stage}.{sequence}.{kind}"


def task_event_type(task: str, kind: str) -> str:
    return f"{KEPTN_EVENT_PREFIX}{task}.{kind}"


# ------------------------------------------------------------------------------------------------
# keptnContext
# ------------------------------------------------------------------------------------------------

_HEX = "0123456789abcdefABCDEF"


def _parse_go_uuid(value: str) -> uuid.UUID | None:
    """Accept exactly the spellings google/uuid `Parse` accepts (Python's `uuid.UUID` is more lenient, e.g. it
    ignores hyphens anywhere, which would make us keep strings Keptn would have hashed)."""
    s = value
    if len(s) == 45 and s[:9].lower() == "urn:uuid:":
        s = s[9:]
    elif len(s) == 38 and s[0] == "{" and s[-1] == "}":
        s = s[1:-1]
    if len(s) == 36:
        if any(s[i] != "-" for i in (8, 13, 18, 23)):
            return None
        s = s.replace("-", "")
        if len(s) != 32:
            return None
    elif len(s) != 32:
        return None
    if any(c not in _HEX for c in s):
        return None
    return uuid.UUID(hex=s)


def keptn_context_from(value: str | None) -> str:
    """The keptnContext the API assigns to an inbound event.

    * a UUID (any spelling Go's uuid.Parse accepts) is kept, normalised to lowercase hyphenated form
      (Keptn kept the client's spelling verbatim);
    * empty / None gives a fresh uuid4;
    * any other string gives a *deterministic* UUID, so every event sent with the same context string lands in
      the same context. Keptn did this by feeding the string's bytes to uuid.New() as its random source:
      the first 16 UTF-8 bytes (strings shorter than 16 bytes are first space-padded to 16 characters)
      with the version-4 and RFC 4122 variant bits set. We reproduce that byte for byte, so a context
      string maps to the same keptnContext as on Keptn; callers should nevertheless only rely on
      determinism.
    """
    if not value:
        return str(uuid.uuid4())
    parsed = _parse_go_uuid(value)
    if parsed is not None:
        return str(parsed)
    raw = value.encode("utf-8", errors="surrogatepass")
    if len(raw) < 16:
        # Go pads with fmt's "%-16v", whose width counts characters (runes), not bytes.
        raw = value.ljust(16).encode("utf-8", errors="surrogatepass")
    b = bytearray(raw[:16])
    b[6] = (b[6] & 0x0F) | 0x40
    b[8] = (b[8] & 0x3F) | 0x80
    return str(uuid.UUID(bytes=bytes(b)))


# ------------------------------------------------------------------------------------------------
# The event model
# ------------------------------------------------------------------------------------------------


class KeptnContextExtendedCE(BaseModel):
    """A Keptn CloudEvent (go-utils `models.KeptnContextExtendedCE`).

    Unknown top-level fields are kept and written back by `to_json_dict`, so events from newer or foreign
    producers survive a round trip through the control plane.
    """

    model_config = ConfigDict(extra="allow")

    specversion: str = CLOUDEVENTS_SPEC_VERSION
    id: str | None = None
    source: str | None = None
    type: str
    time: datetime | None = None
    contenttype: str | None = None
    data: dict[str, Any] = Field(default_factory=dict)
    shkeptncontext: str | None = None
    triggeredid: str | None = None
    gitcommitid: str | None = None
    shkeptnspecversion: str | None = None
    extensions: Any = None

    @field_validator("time", mode="before")
    @classmethod
    def _parse_time(cls, value: Any) -> Any:
        if isinstance(value, str):
            return parse_keptn_time(value)
        return value

    @field_validator("time")
    @classmethod
    def _time_in_utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else _as_utc(value)

    @property
    def event_type(self) -> EventType | None:
        return parse_event_type(self.type)

    def to_json_dict(self) -> dict[str, Any]:
        """Wire JSON: top-level None fields omitted (Go's omitempty), `time` in Keptn's format. Nested `data`
        is untouched, including explicit nulls inside it."""
        out = {k: v for k, v in self.model_dump(mode="json").items() if v is not None}
        if self.time is not None:
            out["time"] = format_keptn_time(self.time)
        return out
