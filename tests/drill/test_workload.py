"""The drill's workload, shortened, against the embedded stack (`keptn-temporal up`, no upgrade): it passes,
and its verification reports what it must catch — a sequence nobody answers, an accepted event that is not
in the datastore, a task `.triggered` sent twice."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import nats
import pytest
import pytest_asyncio

from deploy.drill.gateway import Gateway
from deploy.drill.recorder import Recorder
from deploy.drill.scenarios import DELIVERY_SERVICES, DEV, SCENARIOS, AcceptedEvent, Ledger, TrackedSequence
from deploy.drill.verify import Verifier
from deploy.drill.workload import Timings, Workload, verdict_checks
from tests.fixtures.servers import free_port
from tests.runtime.test_up import keptn_up

pytestmark = pytest.mark.asyncio(loop_scope="session")

SHORT = Timings(
    delivery_interval_s=(2.5, 3.5),
    answer_delay_s=(0.3, 1.5),
    short_timer_s=6.0,
    long_timer_s=900.0,
)


@dataclass(frozen=True)
class Endpoints:
    gateway_url: str
    token: str
    nats_url: str


@pytest_asyncio.fixture(loop_scope="session")
async def embedded(tmp_path: Path) -> AsyncIterator[Endpoints]:
    names = ("KEPTN_TEMPORAL_PORT", "KEPTN_TEMPORAL_UI_PORT", "KEPTN_NATS_PORT", "KEPTN_API_PORT")
    ports = {name: free_port() for name in names}
    data_dir = tmp_path / "data"
    async with keptn_up(data_dir, ports, "api,worker") as up:
        yield Endpoints(
            gateway_url=f"http://127.0.0.1:{ports['KEPTN_API_PORT']}",
            token=(data_dir / "api-token").read_text().strip(),
            nats_url=f"nats://127.0.0.1:{ports['KEPTN_NATS_PORT']}",
        )
        assert await up.stop() == 0, up.output[-4000:]


async def run_short_drill(wl: Workload) -> dict:
    await wl.setup()
    await wl.start()
    wl.phase("before")
    await asyncio.sleep(4)
    wl.phase("upgrade")
    for step in range(4):
        await wl.mid_flip("upgrade", step)
        await asyncio.sleep(2)
    wl.phase("after")
    await asyncio.sleep(2)
    return await wl.finish(timeout_s=150)


async def test_short_drill_passes_and_its_verification_catches_failures(
    embedded: Endpoints, tmp_path: Path
) -> None:
    wl = Workload(
        gateway_url=embedded.gateway_url,
        token=embedded.token,
        nats_url=embedded.nats_url,
        workdir=tmp_path / "drill",
        timings=SHORT,
    )
    started = time.monotonic()
    report = await run_short_drill(wl)
    text = json.dumps(report, indent=2)  # the lead writes it as JSON
    assert report["ok"], text[:30000]
    assert time.monotonic() - started < 240

    sequences = report["sequences"]["by_scenario"]
    assert all(sequences[name]["triggered"] >= 1 for name in SCENARIOS), sequences
    assert sequences["evaluation"]["triggered"] == sequences["remediation"]["triggered"] == 4
    assert report["requests"]["failed"] == 0 and report["requests"]["by_kind"]["probe:auth"]["sent"] >= 5
    assert report["events"]["lost_count"] == 0 and report["events"]["accepted"] > 50
    assert len(report["short_timer"]["samples"]) == 2
    assert report["long_timer"]["waiting_as_expected"] and report["approval"]["granted"]
    restarts = report["executors"].values()
    assert sum(e["kill9_restarts"] for e in restarts) == 1
    assert sum(e["sigterm_restarts"] for e in restarts) == 3

    await verification_catches_failures(wl, embedded)


async def verification_catches_failures(wl: Workload, embedded: Endpoints) -> None:
    """After finish() the executors are gone: a new delivery stays unanswered. Add an event id nobody sent,
    and a second deployment.triggered in a delivery that finished, and verify again."""
    recorder = Recorder()
    gateway = Gateway(embedded.gateway_url, embedded.token, recorder)
    verifier = Verifier(gateway, wl.project, recorder.phase_at)
    good = next(s for s in wl.ledger.sequences if s.scenario == "delivery")
    ledger = Ledger(sequences=[good])
    try:
        unanswered = str(uuid.uuid4())
        r = await gateway.call(
            "event:trigger",
            "POST",
            "/api/v1/event",
            json={
                "type": f"sh.keptn.event.{DEV}.delivery.triggered",
                "source": "tests",
                "shkeptncontext": unanswered,
                "data": {"project": wl.project, "stage": DEV, "service": DELIVERY_SERVICES[0]},
            },
        )
        assert r is not None, recorder.outcomes
        ledger.sequences.append(
            TrackedSequence("delivery", unanswered, DELIVERY_SERVICES[0], "after", time.time(), good.expect)
        )
        ledger.accepted.append(
            AcceptedEvent(str(uuid.uuid4()), "sh.keptn.event.test.finished", good.context, "fake")
        )
        await publish_second_deployment(embedded.nats_url, wl.project, good.context, good.service)
        # The unanswered one never settles: this also gives the intake time to store the extra event.
        await verifier.settle(ledger.sequences, time.monotonic() + 8)
        report = await verifier.report(ledger, [], SHORT.short_timer_s)
    finally:
        await gateway.close()

    assert report["sequences"]["ok"] == 1, report["sequences"]
    [stuck] = [p for p in report["sequences"]["problems"] if p["status"] == "stuck"]
    assert stuck["keptnContext"] == unanswered and stuck["state"] in ("started", "triggered"), stuck
    assert report["events"]["lost_count"] == 1 and report["events"]["lost"][0]["source"] == "fake"
    [duplicate] = report["duplicates"]["task_triggered"]
    assert (duplicate["keptnContext"], duplicate["task"], duplicate["seen"]) == (
        good.context,
        "deployment",
        2,
    )
    checks = verdict_checks(report, {"failed": 0}, SHORT.drift_limit_s, [])
    failed = {name for name, passed in checks.items() if not passed}
    assert {"sequences_as_expected", "no_lost_events", "no_duplicates"} <= failed, checks


async def publish_second_deployment(nats_url: str, project: str, context: str, service: str) -> None:
    """A task `.triggered` cannot be POSTed from outside (only the control plane sends those); a buggy
    control plane would publish it on the stream, so that is where it goes."""
    event = {
        "specversion": "1.0",
        "id": str(uuid.uuid4()),
        "source": "shipyard-controller",
        "type": "sh.keptn.event.deployment.triggered",
        "shkeptncontext": context,
        "data": {"project": project, "stage": DEV, "service": service},
    }
    nc = await nats.connect(nats_url)
    try:
        await nc.jetstream().publish(
            event["type"], json.dumps(event).encode(), headers={"Nats-Msg-Id": event["id"]}
        )
    finally:
        await nc.close()
