"""Every request of the drill (the load's and the executors') with its outcome and latency, and the phase
timeline that attributes each request to a phase by wall-clock time.

Phases are kept as a timeline rather than stamped on each request because the executors are separate
processes that do not know the phase: their requests are attributed here by their timestamps.
"""

from __future__ import annotations

import bisect
import math
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

FLIPS = ("upgrade", "downgrade")
FIRST_FAILURES = 20


@dataclass(frozen=True)
class Outcome:
    kind: str
    t: float  # wall clock (time.time()) when the request was sent
    latency_s: float
    error: str | None  # None: the request succeeded


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def latency_stats(values: Iterable[float]) -> dict[str, Any]:
    ordered = sorted(values)
    if not ordered:
        return {"n": 0}
    return {
        "n": len(ordered),
        "p50_ms": round(percentile(ordered, 50) * 1000, 1),
        "p99_ms": round(percentile(ordered, 99) * 1000, 1),
        "max_ms": round(ordered[-1] * 1000, 1),
    }


class Recorder:
    def __init__(self) -> None:
        self.outcomes: list[Outcome] = []
        self.retries: Counter[str] = Counter()
        self._phase_starts: list[float] = [time.time()]
        self._phase_names: list[str] = ["setup"]

    # ---- phases -----------------------------------------------------------------------------------------

    def phase(self, name: str) -> None:
        if name == self.current_phase:
            return
        self._phase_starts.append(time.time())
        self._phase_names.append(name)

    @property
    def current_phase(self) -> str:
        return self._phase_names[-1]

    def phase_at(self, t: float) -> str:
        index = bisect.bisect_right(self._phase_starts, t) - 1
        return self._phase_names[max(index, 0)]

    def timeline(self) -> list[dict[str, Any]]:
        ends = [*self._phase_starts[1:], None]
        return [
            {"name": name, "start": start, "end": end}
            for name, start, end in zip(self._phase_names, self._phase_starts, ends, strict=True)
        ]

    # ---- requests ---------------------------------------------------------------------------------------

    def add(self, kind: str, t: float, latency_s: float, error: str | None) -> None:
        self.outcomes.append(Outcome(kind, t, latency_s, error))

    def retry(self, kind: str) -> None:
        self.retries[kind] += 1

    def summary(self, extra: Iterable[Outcome] = ()) -> dict[str, Any]:
        outcomes = sorted([*self.outcomes, *extra], key=lambda o: o.t)
        by_kind: dict[str, dict[str, int]] = {}
        by_phase: dict[str, dict[str, int]] = {}
        failures = []
        for o in outcomes:
            counts = by_kind.setdefault(o.kind, {"sent": 0, "failed": 0})
            in_phase = by_phase.setdefault(self.phase_at(o.t), {"sent": 0, "failed": 0})
            counts["sent"] += 1
            in_phase["sent"] += 1
            if o.error is not None:
                counts["failed"] += 1
                in_phase["failed"] += 1
                if len(failures) < FIRST_FAILURES:
                    failures.append(
                        {"kind": o.kind, "phase": self.phase_at(o.t), "t": round(o.t, 3), "error": o.error}
                    )
        return {
            "sent": len(outcomes),
            "failed": sum(c["failed"] for c in by_kind.values()),
            "retries": dict(self.retries),
            "by_kind": dict(sorted(by_kind.items())),
            "by_phase": by_phase,
            "first_failures": failures,
            "latency": self._latency(outcomes),
        }

    def _latency(self, outcomes: list[Outcome]) -> dict[str, Any]:
        """Per phase (and "flips" = upgrade + downgrade): all requests, and per kind family (the part before
        the ':', e.g. probe, event, resource, executor)."""
        groups: dict[str, list[Outcome]] = {}
        for o in outcomes:
            phase = self.phase_at(o.t)
            groups.setdefault(phase, []).append(o)
            if phase in FLIPS:
                groups.setdefault("flips", []).append(o)
        out: dict[str, Any] = {}
        for phase, members in groups.items():
            families: dict[str, list[float]] = {}
            for o in members:
                families.setdefault(o.kind.split(":")[0], []).append(o.latency_s)
            out[phase] = {
                "all": latency_stats(o.latency_s for o in members),
                **{family: latency_stats(values) for family, values in sorted(families.items())},
            }
        return out
