"""After the flips: wait for every tracked sequence to reach its expected end, then check through Keptn's API
that nothing was lost, duplicated or delayed.

Everything is read back through the public API only: sequence states from GET /sequence/<project>, events
from the mongodb-datastore endpoint, by keptnContext.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from deploy.drill.executors import task_of
from deploy.drill.gateway import Gateway
from deploy.drill.scenarios import (
    DELAYED_TASK,
    DEV,
    SCENARIOS,
    AcceptedEvent,
    Ledger,
    TrackedSequence,
)

TERMINAL_STATES = ("finished", "aborted", "timedOut")
POLL_S = 2.0
READ_CONCURRENCY = 4
FIRST = 20  # list at most this many items of a kind in the report


def event_time(event: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(event["time"].replace("Z", "+00:00"))


def stage_of(event: dict[str, Any]) -> str:
    return (event.get("data") or {}).get("stage", "")


@dataclass
class Judgement:
    status: str  # ok | stuck | wrong
    state: str | None
    finished: dict[str, list[str]] = field(default_factory=dict)  # "<stage>.<seq>" -> results seen

    @property
    def resolved(self) -> bool:
        return self.status != "stuck"


def judge(seq: TrackedSequence, state: str | None, events: list[dict[str, Any]]) -> Judgement:
    """ok: the expected end state and exactly one `.finished` with the expected result per sequence of the
    chain; wrong: ended otherwise; stuck: not ended (yet)."""
    finished: dict[str, list[str]] = {key: [] for key in seq.expect.finished}
    for e in events:
        parts = e["type"].split(".")
        key = ".".join(parts[3:5])
        if len(parts) == 6 and parts[5] == "finished" and key in finished:
            finished[key].append((e.get("data") or {}).get("result", ""))
    as_expected = all(finished[k] == [want] for k, want in seq.expect.finished.items())
    if state == seq.expect.state and as_expected:
        return Judgement("ok", state, finished)
    mismatch = any(
        len(got) > 1 or any(r != seq.expect.finished[k] for r in got) for k, got in finished.items()
    )
    if state in TERMINAL_STATES and (state != seq.expect.state or mismatch):
        return Judgement("wrong", state, finished)
    return Judgement("stuck", state, finished)


class Verifier:
    def __init__(self, gateway: Gateway, project: str, phase_at: Callable[[float], str]) -> None:
        self.gateway = gateway
        self.project = project
        self.phase_at = phase_at
        self._reads = asyncio.Semaphore(READ_CONCURRENCY)

    # ---- reads ------------------------------------------------------------------------------------------

    async def states(self) -> dict[str, str]:
        """keptnContext -> GET /sequence state, for every context of the project."""
        states = await self.gateway.json_pages(
            "verify:sequence-states", f"/api/controlPlane/v1/sequence/{self.project}", "states", {}
        )
        return {s["shkeptncontext"]: s["state"] for s in states}

    async def events(self, context: str) -> list[dict[str, Any]]:
        async with self._reads:
            return await self.gateway.json_pages(
                "verify:events",
                "/api/mongodb-datastore/event",
                "events",
                {"project": self.project, "keptnContext": context, "pageSize": "100"},
            )

    async def events_of(self, contexts: Iterable[str]) -> dict[str, list[dict[str, Any]]]:
        unique = list(dict.fromkeys(contexts))
        found = await asyncio.gather(*(self.events(c) for c in unique))
        return dict(zip(unique, found, strict=True))

    # ---- waiting ----------------------------------------------------------------------------------------

    async def settle(self, sequences: list[TrackedSequence], deadline: float) -> None:
        """Return once every sequence has ended (as expected or not), or at the deadline (monotonic)."""
        pending = {s.context: s for s in sequences}
        while pending and time.monotonic() < deadline:
            states = await self.states()
            ended = [c for c in pending if states.get(c) in TERMINAL_STATES]
            for context, events in (await self.events_of(ended)).items():
                if judge(pending[context], states[context], events).resolved:
                    del pending[context]
            if pending:
                await asyncio.sleep(POLL_S)

    # ---- the checks -------------------------------------------------------------------------------------

    async def report(
        self, ledger: Ledger, extra_accepted: list[AcceptedEvent], short_timer_s: float
    ) -> dict[str, Any]:
        states = await self.states()
        events = await self.events_of(s.context for s in ledger.sequences)
        tracked = {s.context for s in ledger.sequences}
        return {
            "sequences": self._sequences(ledger, states, events, tracked),
            "events": self._events([*ledger.accepted, *extra_accepted], events),
            "duplicates": self._duplicates(ledger.sequences, events),
            "short_timer": self._drift(ledger.sequences, events, short_timer_s),
        }

    def _sequences(
        self,
        ledger: Ledger,
        states: dict[str, str],
        events: dict[str, list[dict[str, Any]]],
        tracked: set[str],
    ) -> dict[str, Any]:
        by_scenario = {name: Counter[str]() for name in SCENARIOS}
        problems = []
        for seq in ledger.sequences:
            verdict = judge(seq, states.get(seq.context), events[seq.context])
            by_scenario[seq.scenario]["triggered"] += 1
            by_scenario[seq.scenario][verdict.status] += 1
            if verdict.status != "ok":
                problems.append(
                    {
                        "scenario": seq.scenario,
                        "keptnContext": seq.context,
                        "service": seq.service,
                        "phase": seq.phase,
                        "status": verdict.status,
                        "state": verdict.state,
                        "expected_state": seq.expect.state,
                        "finished_results": verdict.finished,
                        "events": sorted(e["type"] for e in events[seq.context]),
                    }
                )
        totals = sum(by_scenario.values(), Counter[str]())
        return {
            "triggered": totals["triggered"],
            "ok": totals["ok"],
            "stuck": totals["stuck"],
            "wrong": totals["wrong"],
            "by_scenario": {
                name: {k: c[k] for k in ("triggered", "ok", "stuck", "wrong")}
                for name, c in by_scenario.items()
            },
            "problems": problems[:FIRST],
            # Sequences of the project the load does not know: a trigger that failed for the client but
            # was accepted by the server, or one nobody sent.
            "untracked_contexts": sorted(set(states) - tracked)[:FIRST],
            "untracked_count": len(set(states) - tracked),
            "unaccepted_triggers": ledger.unaccepted[:FIRST],
            "unaccepted_count": len(ledger.unaccepted),
        }

    @staticmethod
    def _events(accepted: list[AcceptedEvent], events: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
        by_source: dict[str, Counter[str]] = {}
        lost = []
        for a in accepted:
            stored = events.get(a.context, [])
            found = any(e["id"] == a.id if a.id else e["type"] == a.type for e in stored)
            counts = by_source.setdefault(a.source, Counter())
            counts["accepted"] += 1
            counts["found"] += found
            if not found:
                lost.append({"id": a.id, "type": a.type, "keptnContext": a.context, "source": a.source})
        return {
            "accepted": len(accepted),
            "found": len(accepted) - len(lost),
            "lost_count": len(lost),
            "lost": lost[:FIRST],
            "by_source": {s: dict(c) for s, c in sorted(by_source.items())},
        }

    @staticmethod
    def _duplicates(
        sequences: list[TrackedSequence], events: dict[str, list[dict[str, Any]]]
    ) -> dict[str, Any]:
        tasks, ids = [], []
        for seq in sequences:
            stored = events[seq.context]
            seen = Counter(
                (stage_of(e), task_of(e["type"]))
                for e in stored
                if e["type"].endswith(".triggered") and task_of(e["type"])
            )
            for (stage, task), count in sorted(seen.items()):
                expected = seq.expect.tasks.get((stage, task), 0)
                if count > expected:
                    tasks.append(
                        {
                            "keptnContext": seq.context,
                            "stage": stage,
                            "task": task,
                            "expected": expected,
                            "seen": count,
                        }
                    )
            for event_id, count in Counter(e["id"] for e in stored).items():
                if count > 1:
                    ids.append({"keptnContext": seq.context, "id": event_id, "seen": count})
        return {"count": len(tasks) + len(ids), "task_triggered": tasks[:FIRST], "event_ids": ids[:FIRST]}

    def _drift(
        self, sequences: list[TrackedSequence], events: dict[str, list[dict[str, Any]]], delay_s: float
    ) -> dict[str, Any]:
        """Timer drift = time(delayed task .triggered) - time(previous task .finished) - triggeredAfter."""
        samples, pending = [], []
        for seq in sequences:
            if seq.scenario != "short_timer":
                continue
            stored = events[seq.context]
            before = [
                e for e in stored if e["type"] == "sh.keptn.event.deployment.finished" and stage_of(e) == DEV
            ]
            fired = [e for e in stored if e["type"] == f"sh.keptn.event.{DELAYED_TASK}.triggered"]
            if not before or not fired:
                pending.append(seq.context)
                continue
            start = min(event_time(e) for e in before)
            at = min(event_time(e) for e in fired)
            samples.append(
                {
                    "keptnContext": seq.context,
                    "triggered_in": seq.phase,
                    "fired_in": self.phase_at(at.timestamp()),
                    "drift_s": round((at - start).total_seconds() - delay_s, 3),
                }
            )
        drifts = [abs(s["drift_s"]) for s in samples]
        return {
            "triggeredAfter_s": delay_s,
            "samples": samples,
            "not_fired": pending,
            "max_abs_drift_s": max(drifts) if drifts else None,
        }
