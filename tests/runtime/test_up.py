"""`keptn-temporal up` end to end: starts, serves, stops cleanly, and a second start finds all data again.

Each start launches a real Temporal dev server and nats-server from the venv on free ports, in a tmp data
dir, so this never touches the developer's .data/ or the system NATS on 4222.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from temporalio.client import Client

from eventbus.connection import connect
from eventbus.publisher import EventPublisher
from tests.fixtures.servers import free_port
from workflows.health import ping_control_plane

pytestmark = pytest.mark.asyncio(loop_scope="session")

BANNER = "keptn-temporal is up"
STARTUP_TIMEOUT_S = 120


@dataclass
class UpProcess:
    proc: asyncio.subprocess.Process
    ports: dict[str, int]
    lines: list[str] = field(default_factory=list)
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    async def stop(self, signum: int = signal.SIGTERM, timeout_s: float = 60) -> int:
        self.proc.send_signal(signum)
        return await asyncio.wait_for(self.proc.wait(), timeout_s)


def _ports() -> dict[str, int]:
    names = ("KEPTN_TEMPORAL_PORT", "KEPTN_TEMPORAL_UI_PORT", "KEPTN_NATS_PORT", "KEPTN_API_PORT")
    return {name: free_port() for name in names}


@asynccontextmanager
async def keptn_up(data_dir: Path, ports: dict[str, int], components: str) -> AsyncIterator[UpProcess]:
    env = {
        k: v for k, v in os.environ.items() if k not in ("TEMPORAL_ADDRESS", "NATS_URL", "KEPTN_DATABASE_URL")
    }
    env.update({k: str(v) for k, v in ports.items()})
    env.update({"KEPTN_DATA_DIR": str(data_dir), "KEPTN_UP_COMPONENTS": components, "PYTHONUNBUFFERED": "1"})
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "keptn_temporal.cli",
        "up",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    up = UpProcess(proc, ports)

    async def read() -> None:
        assert proc.stdout is not None
        while line := await proc.stdout.readline():
            text = line.decode(errors="replace").rstrip()
            up.lines.append(text)
            if text == BANNER:
                up.ready.set()

    reader = asyncio.create_task(read())
    try:
        waiters = {asyncio.create_task(proc.wait()), asyncio.create_task(up.ready.wait())}
        await asyncio.wait(waiters, timeout=STARTUP_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED)
        for waiter in waiters:
            waiter.cancel()
        if not up.ready.is_set():
            pytest.fail(f"`up` did not come up (exit code {proc.returncode}):\n{up.output[-6000:]}")
        yield up
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        await asyncio.wait_for(reader, 10)


async def _temporal(up: UpProcess) -> Client:
    return await Client.connect(f"127.0.0.1:{up.ports['KEPTN_TEMPORAL_PORT']}")


async def test_up_restart_keeps_workflows_events_and_token(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    ports = _ports()

    async with keptn_up(data_dir, ports, "worker") as up:
        client = await _temporal(up)
        await ping_control_plane(client, "keptn-control-plane", requested_by="test-first-run")
        nc = await connect(f"nats://127.0.0.1:{ports['KEPTN_NATS_PORT']}", "test", allow_reconnect=False)
        seq = await EventPublisher(nc.jetstream(), "KEPTN").publish(
            {"id": "e2e-event-1", "type": "sh.keptn.event.dev.delivery.triggered", "data": {}}
        )
        await nc.close()
        token = (data_dir / "api-token").read_text()
        started = time.monotonic()
        assert await up.stop(signal.SIGTERM) == 0, up.output[-4000:]
        assert time.monotonic() - started < 30
        assert "[worker]" in up.output and "worker stopped" in up.output

    for name in ("temporal.db", "nats", "keptn.db", "api-token", "secret.key"):
        assert (data_dir / name).exists(), name

    async with keptn_up(data_dir, ports, "worker") as up:
        client = await _temporal(up)
        # Temporal kept its SQLite file: the first run's pings (ours and up's own) are still there.
        handles = [w async for w in client.list_workflows('WorkflowType="ControlPlanePing"')]
        assert len(handles) >= 3  # up #1, the test, up #2 (visibility is immediate on the dev server)
        # NATS kept its store: the event is there, and re-publishing it is still de-duplicated.
        nc = await connect(f"nats://127.0.0.1:{ports['KEPTN_NATS_PORT']}", "test", allow_reconnect=False)
        js = nc.jetstream()
        assert (await js.get_msg("KEPTN", seq)).headers["Nats-Msg-Id"] == "e2e-event-1"  # type: ignore[index]
        again = await EventPublisher(js, "KEPTN").publish(
            {"id": "e2e-event-1", "type": "sh.keptn.event.dev.delivery.triggered", "data": {}}
        )
        assert again == seq
        await nc.close()
        assert (data_dir / "api-token").read_text() == token
        assert "stream KEPTN: unchanged" in up.output
        assert await up.stop(signal.SIGINT) == 0, up.output[-4000:]


async def test_up_refuses_a_second_stack_on_the_same_data_dir(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    async with keptn_up(data_dir, _ports(), "worker") as up:
        env = dict(os.environ, KEPTN_DATA_DIR=str(data_dir), **{k: str(v) for k, v in _ports().items()})
        second = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "keptn_temporal.cli",
            "up",
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
        )
        output, _ = await asyncio.wait_for(second.communicate(), 30)
        assert second.returncode == 1
        assert b"another `keptn-temporal up` is running" in output
        assert await up.stop() == 0


@pytest.mark.skipif(importlib.util.find_spec("api.server") is None, reason="api/server.py not written yet")
async def test_up_serves_the_api(tmp_path: Path) -> None:
    async with keptn_up(tmp_path / "data", _ports(), "api,worker") as up:
        port = up.ports["KEPTN_API_PORT"]
        assert f"API           http://127.0.0.1:{port}" in up.output
        async with httpx.AsyncClient() as http:
            assert (await http.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200
        assert await up.stop() == 0, up.output[-4000:]
