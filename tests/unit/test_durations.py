from __future__ import annotations

from datetime import timedelta

import pytest

from keptn.durations import parse_go_duration, parse_go_duration_ns


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", timedelta(0)),
        ("10m", timedelta(minutes=10)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("15s", timedelta(seconds=15)),
        ("500ms", timedelta(milliseconds=500)),
        ("1.5h", timedelta(minutes=90)),
        (".5s", timedelta(milliseconds=500)),
        ("1.s", timedelta(seconds=1)),
        ("+2m", timedelta(minutes=2)),
        ("-1m30s", -timedelta(minutes=1, seconds=30)),
        ("3us", timedelta(microseconds=3)),
        ("3\u00b5s", timedelta(microseconds=3)),
        ("3\u03bcs", timedelta(microseconds=3)),
        ("1500ns", timedelta(microseconds=1)),  # sub-microsecond parts are truncated
        ("2h45m10s", timedelta(hours=2, minutes=45, seconds=10)),
    ],
)
def test_parse_go_duration(text: str, expected: timedelta) -> None:
    assert parse_go_duration(text) == expected


def test_nanosecond_precision() -> None:
    assert parse_go_duration_ns("1.000000001s") == 1_000_000_001
    assert parse_go_duration_ns("2562047h47m16.854775807s") == (1 << 63) - 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("-", 'time: invalid duration "-"'),
        ("abc", 'time: invalid duration "abc"'),
        (".s", 'time: invalid duration ".s"'),
        ("1", 'time: missing unit in duration "1"'),
        ("1h5", 'time: missing unit in duration "1h5"'),
        ("1d", 'time: unknown unit "d" in duration "1d"'),
        ("10 m", 'time: unknown unit " m" in duration "10 m"'),
        ("2562047h47m16.854775808s", 'time: invalid duration "2562047h47m16.854775808s"'),
    ],
)
def test_parse_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as err:
        parse_go_duration(text)
    assert str(err.value) == message
