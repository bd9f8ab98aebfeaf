"""Go duration strings (`time.ParseDuration`), as in shipyard `triggeredAfter`: "10m", "1h30m", "500ms"."""

from __future__ import annotations

import re
from datetime import timedelta

_UNIT_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,  # micro sign
    "\u03bcs": 1_000,  # Greek mu
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
}
_MAX_NS = (1 << 63) - 1
# One "<number><unit>" element; the unit is whatever non-digit, non-dot run follows (Go reports unknown ones).
_ELEMENT_RE = re.compile(r"(?P<int>[0-9]*)(?:\.(?P<frac>[0-9]*))?(?P<unit>[^0-9.]*)")


def _error(detail: str, text: str) -> ValueError:
    return ValueError(
        f'time: {detail} in duration "{text}"' if detail else f'time: invalid duration "{text}"'
    )


def parse_go_duration_ns(text: str) -> int:
    """Nanoseconds for a Go duration string; raises ValueError with Go's error text."""
    s = text
    negative = False
    if s[:1] in ("-", "+"):
        negative = s[0] == "-"
        s = s[1:]
    if s == "0":
        return 0
    if s == "":
        raise _error("", text)
    total = 0
    pos = 0
    while pos < len(s):
        m = _ELEMENT_RE.match(s, pos)
        assert m is not None  # the pattern can match the empty string
        whole, frac, unit = m["int"], m["frac"], m["unit"]
        if not whole and not frac:
            raise _error("", text)
        if not unit:
            raise _error("missing unit", text)
        if unit not in _UNIT_NS:
            raise _error(f'unknown unit "{unit}"', text)
        scale = _UNIT_NS[unit]
        value = int(whole or "0") * scale
        if frac:
            value += int(frac) * scale // 10 ** len(frac)
        total += value
        if total > _MAX_NS + (1 if negative else 0):
            raise _error("", text)
        pos = m.end()
    return -total if negative else total


def parse_go_duration(text: str) -> timedelta:
    """`time.ParseDuration` as a timedelta (sub-microsecond parts are truncated)."""
    ns = parse_go_duration_ns(text)
    micros = ns // 1000 if ns >= 0 else -(-ns // 1000)
    return timedelta(microseconds=micros)
