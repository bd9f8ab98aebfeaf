"""keptn.evaluation: go-utils timeutils `TestGetStartEndTime` ported (with a fixed clock) and Keptn's messages."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from keptn.errors import KeptnValidationError
from keptn.evaluation import evaluation_triggered_data, evaluation_window, go_parse_error

NOW = datetime(2024, 5, 6, 12, 30, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "end", "timeframe", "want"),
    [
        pytest.param(
            "2024-05-06T12:00:00.000Z",
            "2024-05-06T12:05:00.000Z",
            None,
            ("2024-05-06T12:00:00.000Z", "2024-05-06T12:05:00.000Z"),
            id="start and end date provided",
        ),
        pytest.param(
            "2024-05-06T12:00:00",
            "2024-05-06T12:05:00",
            "",
            ("2024-05-06T12:00:00.000Z", "2024-05-06T12:05:00.000Z"),
            id="start and end date in the fallback format",
        ),
        pytest.param(
            "2024-05-06T12:00:00.000Z",
            None,
            "10m",
            ("2024-05-06T12:00:00.000Z", "2024-05-06T12:10:00.000Z"),
            id="start and timeframe",
        ),
        pytest.param(
            None, None, "10m", ("2024-05-06T12:20:00.000Z", "2024-05-06T12:30:00.000Z"), id="only timeframe"
        ),
        pytest.param(
            None, None, None, ("2024-05-06T12:25:00.000Z", "2024-05-06T12:30:00.000Z"), id="nothing"
        ),
        pytest.param(
            "2024-05-06T12:00:00+02:00",
            None,
            "1h30m",
            ("2024-05-06T10:00:00.000Z", "2024-05-06T11:30:00.000Z"),
            id="RFC 3339 with offset is written in UTC",
        ),
        pytest.param(
            "2024-05-06T12:00:00.123Z",
            "2024-05-06T12:01:00.123Z",
            None,
            ("2024-05-06T12:00:00.123Z", "2024-05-06T12:01:00.123Z"),
            id="exactly one minute, fractions",
        ),
        pytest.param(
            "2024-05-06T1:00:00",
            None,
            "5m",
            ("2024-05-06T01:00:00.000Z", "2024-05-06T01:05:00.000Z"),
            id="Go fallback layout takes a one-digit hour",
        ),
    ],
)
def test_evaluation_window(
    start: str | None, end: str | None, timeframe: str | None, want: tuple[str, str]
) -> None:
    assert evaluation_window(start, end, timeframe, NOW) == want


@pytest.mark.parametrize(
    ("start", "end", "timeframe", "message"),
    [
        pytest.param(
            "2024-05-06T12:31:00.000Z",
            "2024-05-06T12:30:00.000Z",
            None,
            "end date must be at least 1 minute after start date",
            id="start after end",
        ),
        pytest.param(
            "2024-05-06T12:00:00.000Z",
            "2024-05-06T12:00:59.999Z",
            None,
            "end date must be at least 1 minute after start date",
            id="less than a minute",
        ),
        pytest.param(
            None, None, "30s", "end date must be at least 1 minute after start date", id="short timeframe"
        ),
        pytest.param(
            "2024-05-06T12:31:00.000Z",
            "2024-05-06T12:30:00.000Z",
            "5m",
            "'end' and 'timeframe' are mutually exclusive",
            id="start, end and timeframe",
        ),
        pytest.param(
            "2024-05-06T12:31:00.000Z", None, None, "no timeframe or end date provided", id="only start"
        ),
        pytest.param(
            None,
            "2024-05-06T12:31:00.000Z",
            None,
            "start date is required when using an end date",
            id="only end",
        ),
        pytest.param(
            None,
            None,
            "xyz",
            'could not parse provided timeframe: time: invalid duration "xyz"',
            id="bad timeframe",
        ),
        pytest.param(
            None,
            None,
            "xym",
            'could not parse provided timeframe: time: invalid duration "xym"',
            id="bad timeframe 2",
        ),
        pytest.param(
            "abc",
            None,
            "5m",
            'parsing time "abc" as "2006-01-02T15:04:05": cannot parse "abc" as "2006"',
            id="bad start",
        ),
        pytest.param(
            "2024-05-06T12:31:00.000Z",
            "abc",
            None,
            'parsing time "abc" as "2006-01-02T15:04:05": cannot parse "abc" as "2006"',
            id="bad end",
        ),
        pytest.param(
            " 2024-05-06T12:00:00Z",
            None,
            "5m",
            'parsing time " 2024-05-06T12:00:00Z" as "2006-01-02T15:04:05": cannot parse " 2024-05-06T12:00:00Z" as "2006"',
            id="whitespace is not accepted",
        ),
    ],
)
def test_evaluation_window_errors(
    start: str | None, end: str | None, timeframe: str | None, message: str
) -> None:
    with pytest.raises(KeptnValidationError) as info:
        evaluation_window(start, end, timeframe, NOW)
    assert info.value.message == message


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("2021-01-01", 'parsing time "2021-01-01" as "2006-01-02T15:04:05": cannot parse "" as "T"'),
        (
            "2021/01/01T00:00:00",
            'parsing time "2021/01/01T00:00:00" as "2006-01-02T15:04:05": cannot parse "/01/01T00:00:00" as "-"',
        ),
        (
            "2021-1-01T00:00:00",
            'parsing time "2021-1-01T00:00:00" as "2006-01-02T15:04:05": cannot parse "1-01T00:00:00" as "01"',
        ),
        ("2021-13-01T00:00:00", 'parsing time "2021-13-01T00:00:00": month out of range'),
        ("2021-02-30T00:00:00", 'parsing time "2021-02-30T00:00:00": day out of range'),
        ("2021-01-01T24:00:00", 'parsing time "2021-01-01T24:00:00": hour out of range'),
        ("2021-01-01T00:60:00", 'parsing time "2021-01-01T00:60:00": minute out of range'),
        ("2021-01-01T00:00:60", 'parsing time "2021-01-01T00:00:60": second out of range'),
        ("2021-01-01T00:00:00+0200", 'parsing time "2021-01-01T00:00:00+0200": extra text: "+0200"'),
        ("2021-01-01T00:00:00.5 x", 'parsing time "2021-01-01T00:00:00.5 x": extra text: " x"'),
        (
            '"\u00e9',
            'parsing time "\\"\\xc3\\xa9" as "2006-01-02T15:04:05": cannot parse "\\"\\xc3\\xa9" as "2006"',
        ),
    ],
)
def test_go_parse_error_messages(value: str, message: str) -> None:
    assert go_parse_error(value) == message
    with pytest.raises(KeptnValidationError) as info:
        evaluation_window(value, None, "5m", NOW)
    assert info.value.message == message


def test_evaluation_triggered_data_matches_keptn_json() -> None:
    assert evaluation_triggered_data(
        "p", "dev", "carts", "2024-05-06T12:25:00.000Z", "2024-05-06T12:30:00.000Z", {"buildId": "42"}
    ) == {
        "project": "p",
        "stage": "dev",
        "service": "carts",
        "labels": {"buildId": "42"},
        "test": {"start": "", "end": ""},
        "evaluation": {
            "start": "2024-05-06T12:25:00.000Z",
            "end": "2024-05-06T12:30:00.000Z",
            "timeframe": "",
        },
        "deployment": {"deploymentNames": None},
    }
    assert "labels" not in evaluation_triggered_data("p", "dev", "carts", "a", "b", None)
    assert "labels" not in evaluation_triggered_data("p", "dev", "carts", "a", "b", {})
