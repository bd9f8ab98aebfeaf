"""What the drill runs and what each run must end with: the project's shipyard and services, the scenarios,
and the ledger of every sequence started and every event accepted by the control plane."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ASSETS = Path(__file__).parent / "assets"
DEV, STAGING = "dev", "staging"
DELIVERY_SERVICES = ("carts", "orders", "payment")
EVALUATED_SERVICE = "catalogue"  # evaluations, and the slo.yaml read by the resource client
REMEDIATED_SERVICE = "frontend"
APPROVAL_SERVICE = "shipping"
SHORT_TIMER_SERVICE = "timer-short"
LONG_TIMER_SERVICE = "timer-long"
SHORT_TIMER_SEQUENCE, LONG_TIMER_SEQUENCE = "delayed-short", "delayed-long"
DELAYED_TASK = "test"
ALL_SERVICES = (
    *DELIVERY_SERVICES,
    EVALUATED_SERVICE,
    REMEDIATED_SERVICE,
    APPROVAL_SERVICE,
    SHORT_TIMER_SERVICE,
    LONG_TIMER_SERVICE,
)
# Every sequence has a built-in `evaluation` sequence with this one task (Keptn's `keptn trigger evaluation`).
BUILTIN_EVALUATION = ["evaluation"]


@dataclass(frozen=True)
class Scenario:
    name: str
    chain: tuple[tuple[str, str], ...]  # the (stage, sequence)s one trigger runs, in order
    final_state: str = "finished"  # GET /sequence state at the end
    unreached: tuple[str, ...] = ()  # tasks of the chain that must never be triggered


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("delivery", ((DEV, "delivery"), (STAGING, "delivery"))),
        Scenario("evaluation", ((DEV, "evaluation"),)),
        Scenario("remediation", ((DEV, "remediation"),)),
        Scenario("approval", ((DEV, "gated"),)),
        Scenario("short_timer", ((DEV, SHORT_TIMER_SEQUENCE),)),
        # Aborted through the API at the end, while its 15-minute timer still waits.
        Scenario("long_timer", ((DEV, LONG_TIMER_SEQUENCE),), "aborted", (DELAYED_TASK,)),
    )
}


def go_seconds(seconds: float) -> str:
    return f"{seconds:g}s"


def shipyard(short_timer_s: float, long_timer_s: float) -> dict[str, Any]:
    """The asset shipyard with the timers of this run."""
    doc = yaml.safe_load((ASSETS / "shipyard.yaml").read_text())
    timers = {SHORT_TIMER_SEQUENCE: short_timer_s, LONG_TIMER_SEQUENCE: long_timer_s}
    for stage in doc["spec"]["stages"]:
        for sequence in stage["sequences"]:
            for task in sequence["tasks"]:
                if sequence["name"] in timers and task["name"] == DELAYED_TASK:
                    task["triggeredAfter"] = go_seconds(timers[sequence["name"]])
    return doc


def sequence_tasks(doc: dict[str, Any], stage: str, sequence: str) -> list[str]:
    for s in doc["spec"]["stages"]:
        if s["name"] == stage:
            for seq in s["sequences"]:
                if seq["name"] == sequence:
                    return [t["name"] for t in seq["tasks"]]
    if sequence == "evaluation":
        return BUILTIN_EVALUATION
    raise KeyError(f"no sequence {stage}.{sequence} in the drill's shipyard")


@dataclass(frozen=True)
class Expectation:
    finished: dict[str, str]  # "<stage>.<sequence>" -> result of its `.finished`
    tasks: dict[tuple[str, str], int]  # (stage, task) -> how many `<task>.triggered`
    state: str


def expectation(scenario: Scenario, doc: dict[str, Any]) -> Expectation:
    tasks: dict[tuple[str, str], int] = {}
    for stage, sequence in scenario.chain:
        for task in sequence_tasks(doc, stage, sequence):
            tasks[(stage, task)] = 0 if task in scenario.unreached else tasks.get((stage, task), 0) + 1
    finished = (
        {} if scenario.final_state != "finished" else {f"{st}.{seq}": "pass" for st, seq in scenario.chain}
    )
    return Expectation(finished=finished, tasks=tasks, state=scenario.final_state)


@dataclass
class TrackedSequence:
    scenario: str
    context: str
    service: str
    phase: str  # the phase it was triggered in
    triggered_at: float
    expect: Expectation


@dataclass(frozen=True)
class AcceptedEvent:
    """An event the control plane accepted (2xx, or a JetStream PubAck). `id` None: the server chose it
    (the evaluation endpoint), so it is looked for by type in its context."""

    id: str | None
    type: str
    context: str
    source: str


@dataclass
class Ledger:
    sequences: list[TrackedSequence] = field(default_factory=list)
    accepted: list[AcceptedEvent] = field(default_factory=list)
    unaccepted: list[dict[str, Any]] = field(default_factory=list)  # triggers that never got a 2xx

    def context_of(self, scenario: str) -> str | None:
        return next((s.context for s in self.sequences if s.scenario == scenario), None)
