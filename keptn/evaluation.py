"""`POST /api/controlPlane/v1/project/{p}/stage/{s}/service/{svc}/evaluation`: the evaluation window and the
`sh.keptn.event.<stage>.evaluation.triggered` payload (shipyard-controller `internal/handler/evaluationmanager.go`,
go-utils v0.20.4 `pkg/common/timeutils.GetStartEndTime`). Pure: `now` is a parameter.

Rules, with Keptn's messages:

* start without end and without timeframe -> "no timeframe or end date provided";
* end and timeframe -> "'end' and 'timeframe' are mutually exclusive";
* end without start -> "start date is required when using an end date";
* timeframe (default "5m") must be a Go duration -> "could not parse provided timeframe: <Go error>";
* start (default now - timeframe) and end (default now; start + timeframe when start and timeframe are given)
  are read as `2006-01-02T15:04:05.000Z`, RFC 3339 or `2006-01-02T15:04:05` (UTC); an unreadable one gives Go's
  `time.Parse` error for the last layout tried, `2006-01-02T15:04:05`;
* end - start must be at least one minute -> "end date must be at least 1 minute after start date".

Deliberate deviation: the window is written in UTC. Keptn formatted an RFC 3339 time with an offset as its local
clock reading followed by a literal "Z" (so `10:00:00+02:00` became `10:00:00.000Z`, two hours off).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from keptn.durations import parse_go_duration
from keptn.errors import KeptnValidationError
from keptn.events import format_keptn_time, parse_keptn_time

DEFAULT_EVALUATION_TIMEFRAME = "5m"
MIN_EVALUATION_WINDOW = timedelta(minutes=1)
FALLBACK_TIME_LAYOUT = "2006-01-02T15:04:05"

MSG_NO_TIMEFRAME_OR_END = "no timeframe or end date provided"
MSG_END_AND_TIMEFRAME = "'end' and 'timeframe' are mutually exclusive"
MSG_START_REQUIRED = "start date is required when using an end date"
MSG_WINDOW_TOO_SHORT = "end date must be at least 1 minute after start date"


def evaluation_window(
    start: str | None, end: str | None, timeframe: str | None, now: datetime
) -> tuple[str, str]:
    """(start, end) in Keptn's time format; raises `KeptnValidationError` with Keptn's message."""
    _check_combination(start, end, timeframe)
    duration = _parse_timeframe(timeframe or DEFAULT_EVALUATION_TIMEFRAME)
    start_dt = _parse_time(start) if start else now - duration
    end_dt = _parse_time(end) if end else now
    if start and not end and timeframe:
        end_dt = start_dt + duration
    if end_dt - start_dt < MIN_EVALUATION_WINDOW:
        raise KeptnValidationError(MSG_WINDOW_TOO_SHORT)
    return format_keptn_time(start_dt), format_keptn_time(end_dt)


def evaluation_triggered_data(
    project: str,
    stage: str,
    service: str,
    start: str,
    end: str,
    labels: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """`data` of the `sh.keptn.event.<stage>.evaluation.triggered` event the evaluation endpoint sends.

    The same JSON as Keptn's `EvaluationTriggeredEventData`: the EventData members are omitted when empty, while
    `test`, `evaluation.timeframe` and `deployment` are always present with zero values (Go has no omitempty on
    them), so consumers that look at `data.test` see what they saw on Keptn.
    """
    data: dict[str, Any] = {"project": project, "stage": stage, "service": service}
    if labels:
        data["labels"] = dict(labels)
    data = {k: v for k, v in data.items() if v}
    data["test"] = {"start": "", "end": ""}
    data["evaluation"] = {"start": start, "end": end, "timeframe": ""}
    data["deployment"] = {"deploymentNames": None}
    return data


def _check_combination(start: str | None, end: str | None, timeframe: str | None) -> None:
    # go-utils `GetStartEndTimeParams.Validate`, in its order; empty strings count as absent.
    if start and not end and not timeframe:
        raise KeptnValidationError(MSG_NO_TIMEFRAME_OR_END)
    if end and timeframe:
        raise KeptnValidationError(MSG_END_AND_TIMEFRAME)
    if end and not start:
        raise KeptnValidationError(MSG_START_REQUIRED)


def _parse_timeframe(timeframe: str) -> timedelta:
    try:
        return parse_go_duration(timeframe)
    except ValueError as exc:
        raise KeptnValidationError(f"could not parse provided timeframe: {exc}") from exc


def _parse_time(value: str) -> datetime:
    # Go accepts no surrounding whitespace; parse_keptn_time would strip it.
    if value == value.strip():
        try:
            return parse_keptn_time(value)
        except ValueError:
            pass
    try:
        # The Go layout also takes what parse_keptn_time does not, e.g. a one-digit hour.
        return _walk_fallback_layout(value, FALLBACK_TIME_LAYOUT)
    except _GoParseError as exc:
        raise KeptnValidationError(str(exc)) from exc


# ------------------------------------------------------------------------------------------------
# Go's time.Parse error text for the layout "2006-01-02T15:04:05"
# ------------------------------------------------------------------------------------------------

# (layout element, literal prefix before it, kind): the fallback layout as Go's parser walks it.
_FALLBACK_CHUNKS = (
    ("", "2006", "year"),
    ("-", "01", "month"),
    ("-", "02", "day"),
    ("T", "15", "hour"),
    (":", "04", "minute"),
    (":", "05", "second"),
)


class _GoParseError(Exception):
    pass


def go_parse_error(value: str, layout: str = FALLBACK_TIME_LAYOUT) -> str:
    """The message of Go's `time.Parse(layout, value)` error for the fixed layout `2006-01-02T15:04:05`.

    Covers what Go reports for this layout: a literal or number that does not match ("cannot parse X as Y"),
    a field out of range, a day that does not exist in the month, and trailing text.
    """
    try:
        _walk_fallback_layout(value, layout)
    except _GoParseError as exc:
        return str(exc)
    # Should not happen (the value parsed); keep a Go-shaped message anyway.
    return f"parsing time {_go_quote(value)}: cannot parse"


def _walk_fallback_layout(avalue: str, layout: str) -> datetime:
    """Parse like Go's `time.Parse(layout, avalue)` (UTC); raise `_GoParseError` with Go's message."""

    def cannot_parse(value_elem: str, layout_elem: str) -> _GoParseError:
        return _GoParseError(
            f"parsing time {_go_quote(avalue)} as {_go_quote(layout)}: "
            f"cannot parse {_go_quote(value_elem)} as {_go_quote(layout_elem)}"
        )

    def message(text: str) -> _GoParseError:
        return _GoParseError(f"parsing time {_go_quote(avalue)}{text}")

    value = avalue
    fields: dict[str, int] = {}
    micros = 0
    for prefix, element, kind in _FALLBACK_CHUNKS:
        if prefix:
            if not value.startswith(prefix):
                raise cannot_parse(value, prefix)
            value = value[len(prefix) :]
        hold = value
        number, value, ok = _go_number(value, kind)
        if not ok:
            raise cannot_parse(hold, element)
        if not _in_range(kind, number):
            raise message(f": {kind} out of range")
        fields[kind] = number
        if kind == "second":
            micros, value = _fraction(value)
    if value:
        raise message(f": extra text: {_go_quote(value)}")
    if fields["day"] < 1 or fields["day"] > calendar.monthrange(fields["year"], fields["month"])[1]:
        raise message(": day out of range")
    return datetime(
        fields["year"],
        fields["month"],
        fields["day"],
        fields["hour"],
        fields["minute"],
        fields["second"],
        micros,
        tzinfo=UTC,
    )


def _go_number(value: str, kind: str) -> tuple[int, str, bool]:
    if kind == "year":
        head = value[:4]
        if len(head) < 4 or any(c not in "0123456789" for c in head):
            return 0, value, False
        return int(head), value[4:], True
    # getnum: two digits for the zero-padded elements (01, 02, 04, 05); one or two for the hour (15).
    fixed = kind != "hour"
    if not value[:1] or value[0] not in "0123456789":
        return 0, value, False
    if len(value) < 2 or value[1] not in "0123456789":
        return (0, value, False) if fixed else (int(value[0]), value[1:], True)
    return int(value[:2]), value[2:], True


def _in_range(kind: str, number: int) -> bool:
    limits = {"month": (1, 12), "hour": (0, 23), "minute": (0, 59), "second": (0, 59)}
    low, high = limits.get(kind, (number, number))
    return low <= number <= high


def _fraction(value: str) -> tuple[int, str]:
    """(microseconds, rest): Go accepts a fractional second after "05" even when the layout has none."""
    if len(value) >= 2 and value[0] in ".," and value[1] in "0123456789":
        n = 2
        while n < len(value) and value[n] in "0123456789":
            n += 1
        return int(value[1:n][:6].ljust(6, "0")), value[n:]
    return 0, value


def _go_quote(text: str) -> str:
    """Go `time.quote`: double quotes; `"` and `\\` escaped; control and non-ASCII bytes as \\xNN."""
    out = ['"']
    for ch in text:
        if ord(ch) < 0x20 or ord(ch) >= 0x80:
            out.extend(f"\\x{b:02x}" for b in ch.encode("utf-8", errors="surrogatepass"))
        else:
            out.append("\\" + ch if ch in '"\\' else ch)
    out.append('"')
    return "".join(out)
