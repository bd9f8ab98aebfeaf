"""The local HA stack: nginx in front of two API replicas, two workers, on PostgreSQL, Temporal and NATS.

It is what a Kubernetes install looks like, on one machine: every control-plane process can be replaced by
the same process of another installed release, one at a time, the way a rolling update does it:

    API replica  SIGTERM (readiness fails, in-flight requests finish, NATS drains), then the new one starts
                 on the same port; meanwhile nginx sends everything to the other replica.
    worker       the new one starts first (surge), then the old one gets SIGTERM and lets its in-flight
                 activities finish. Which build runs the workflows is decided by the deployment's current
                 version (`rollout`), not by which processes happen to run.

Temporal is a dev server with drainage refreshed every 2 s (production: 3 min) so a drill sees the old build
drain in seconds; NATS and PostgreSQL are the production kinds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import signal
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import httpx
from cryptography.fernet import Fernet
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from deploy.local import nginx
from deploy.local.releases import Release, clean_environ
from keptn_temporal.embedded import nats_argv, nats_ready, temporal_argv
from keptn_temporal.process import Child, ChildSpec

log = logging.getLogger(__name__)

TASK_QUEUE = "keptn-control-plane"  # Settings.task_queue's default, which the stack does not change
API_ROLES = ("api1", "api2")
WORKER_ROLES = ("worker1", "worker2")
READY_TIMEOUT_S = 90.0
API_STOP_TIMEOUT_S = 45.0  # uvicorn drains for up to 30 s (api/server.py)
WORKER_GRACE_S = 20.0
# Fast drainage for drills (defaults: 3 min each); everything else is the dev server's default.
TEMPORAL_DYNAMIC_CONFIG = (
    'matching.wv.VersionDrainageStatusVisibilityGracePeriod="5s"',
    'matching.wv.VersionDrainageStatusRefreshInterval="2s"',
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class ProcessEvent:
    """One start or stop of a control-plane process, for the drill report."""

    role: str
    build_id: str
    action: str  # start | stop | kill
    at: float
    seconds: float
    exit_code: int | None = None


@dataclass
class RoleProcess:
    role: str
    release: Release
    child: Child
    log_file: TextIO


@dataclass
class HAStack:
    workdir: Path
    database_url: str
    gateway_port: int = field(default_factory=free_port)
    api_ports: dict[str, int] = field(default_factory=lambda: {r: free_port() for r in API_ROLES})
    temporal_port: int = field(default_factory=free_port)
    nats_port: int = field(default_factory=free_port)
    token: str = field(default_factory=lambda: secrets.token_urlsafe(24))
    secret_key: str = field(default_factory=lambda: Fernet.generate_key().decode())
    infra: list[Child] = field(default_factory=list)
    roles: dict[str, RoleProcess] = field(default_factory=dict)
    events: list[ProcessEvent] = field(default_factory=list)
    _client: Client | None = None

    @property
    def gateway_url(self) -> str:
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    @property
    def temporal_address(self) -> str:
        return f"127.0.0.1:{self.temporal_port}"

    # ---- infrastructure -----------------------------------------------------------------------------

    async def start_infra(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        infra = self.workdir / "infra"
        infra.mkdir(parents=True, exist_ok=True)
        temporal = temporal_argv(
            port=self.temporal_port, ui_port=free_port(), db_file=infra / "temporal.db", namespace="default"
        )
        for value in TEMPORAL_DYNAMIC_CONFIG:
            temporal += ["--dynamic-config-value", value]
        await self._start_infra_child(ChildSpec("temporal", temporal, mute_when_stopping=True))
        await self._start_infra_child(
            ChildSpec("nats", nats_argv(port=self.nats_port, store_dir=infra / "nats"))
        )
        config = nginx.render_config(self.workdir / "nginx", self.gateway_port, list(self.api_ports.values()))
        binary = nginx.find_or_install(self.workdir.parent / "nginx-package")
        await self._start_infra_child(nginx.nginx_spec(binary, config))
        await self._wait_temporal()
        await asyncio.wait_for(nats_ready(self.nats_url), READY_TIMEOUT_S)
        await self._wait_http(f"{self.gateway_url}/nginx-health")

    async def _start_infra_child(self, spec: ChildSpec) -> None:
        child = Child(spec, self._log(spec.name))
        await child.start()
        self.infra.append(child)

    async def _wait_temporal(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            try:
                await (await self.temporal_client()).count_workflows()
                return
            except Exception:
                self._client = None
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.5)

    def _log(self, name: str) -> TextIO:
        path = self.workdir / "logs" / f"{name}.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        return path.open("a", buffering=1)

    # ---- control-plane processes --------------------------------------------------------------------

    def env(self, release: Release, role: str = "") -> dict[str, str]:
        """What every process of the stack reads: the same token, key, database, servers."""
        env = {
            "KEPTN_DATA_DIR": str(self.workdir / "data"),
            "KEPTN_API_TOKEN": self.token,
            "KEPTN_SECRET_KEY": self.secret_key,
            "KEPTN_DATABASE_URL": self.database_url,
            "TEMPORAL_ADDRESS": self.temporal_address,
            "NATS_URL": self.nats_url,
            "TEMPORAL_WORKER_BUILD_ID": release.build_id,
            # Routing belongs to the rollout: replicas of two builds must never flip it.
            "KEPTN_WORKER_PROMOTE": "never",
            "KEPTN_WORKER_GRACE_S": str(WORKER_GRACE_S),
            "PYTHONUNBUFFERED": "1",
        }
        if role in self.api_ports:
            env["KEPTN_API_PORT"] = str(self.api_ports[role])
        return env

    async def run_cli(self, release: Release, *args: str, timeout_s: float = 600) -> str:
        """Run `keptn-temporal <args>` of a release to completion; returns its stdout."""
        with self._log(f"cli-{args[0]}") as errors:
            proc = await asyncio.create_subprocess_exec(
                str(release.cli),
                *args,
                env={**clean_environ(), **self.env(release)},
                stdout=asyncio.subprocess.PIPE,
                stderr=errors,
            )
            out, _ = await asyncio.wait_for(proc.communicate(), timeout_s)
        if proc.returncode != 0:
            raise RuntimeError(f"{release.label}: keptn-temporal {' '.join(args)} exited {proc.returncode}")
        return out.decode()

    async def migrate(self, release: Release) -> None:
        await self.run_cli(release, "migrate")

    async def rollout(self, release: Release, *, wait_drained: bool = True) -> dict[str, object]:
        args = ["rollout", "--to", release.build_id, "--timeout", "300"]
        if wait_drained:
            args.append("--wait-drained")
        return json.loads((await self.run_cli(release, *args)).strip().splitlines()[-1])

    async def start(self, role: str, release: Release) -> RoleProcess:
        started = time.monotonic()
        component = "api" if role in API_ROLES else "worker"
        log_file = self._log(role)
        log_file.write(f"---- {role} on {release.label} ({release.build_id})\n")
        spec = ChildSpec(
            name=role,
            argv=[str(release.cli), component],
            env={**clean_environ(), **self.env(release, role)},
            stop_timeout_s=API_STOP_TIMEOUT_S if component == "api" else WORKER_GRACE_S + 15,
        )
        child = Child(spec, log_file)
        await child.start()
        process = RoleProcess(role, release, child, log_file)
        if component == "api":
            await self._wait_http(f"http://127.0.0.1:{self.api_ports[role]}/readyz", child)
        else:
            await self._wait_worker(process)
        self.roles[role] = process
        self.events.append(
            ProcessEvent(role, release.build_id, "start", time.time(), time.monotonic() - started)
        )
        return process

    async def start_all(self, release: Release) -> None:
        """Bring the whole stack up on one release: infrastructure, schema, workers, routing, API replicas."""
        await self.start_infra()
        await self.migrate(release)
        for role in WORKER_ROLES:
            await self.start(role, release)
        await self.rollout(release, wait_drained=False)
        for role in API_ROLES:
            await self.start(role, release)

    async def stop(self, role: str, *, kill: bool = False) -> int | None:
        process = self.roles.pop(role)
        started = time.monotonic()
        if kill:
            process.child.signal(signal.SIGKILL)
            code: int | None = await process.child.wait()
        else:
            code = await process.child.stop()
        process.log_file.close()
        self.events.append(
            ProcessEvent(
                role,
                process.release.build_id,
                "kill" if kill else "stop",
                time.time(),
                time.monotonic() - started,
                code,
            )
        )
        return code

    async def replace(self, role: str, release: Release) -> None:
        """Swap one process for the same process of `release`, as a rolling update does."""
        if role in API_ROLES:
            await self.stop(role)
            await self.start(role, release)
            return
        old = self.roles.pop(role)
        await self.start(role, release)
        self.roles[f"{role}-old"] = old
        await self.stop(f"{role}-old")

    async def _wait_http(self, url: str, child: Child | None = None) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                if child is not None and child.returncode is not None:
                    raise RuntimeError(f"{child.name} exited with {child.returncode} before it was ready")
                with contextlib.suppress(httpx.HTTPError):
                    if (await client.get(url)).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{url} not ready within {READY_TIMEOUT_S:.0f}s")
                await asyncio.sleep(0.2)

    async def _wait_worker(self, process: RoleProcess) -> None:
        """Ready = polling: the server lists a poller with this process's identity (worker-<pid>@<build>)."""
        identity = f"worker-{process.child.pid}@{process.release.build_id}"
        client = await self.temporal_client()
        request = DescribeTaskQueueRequest(
            namespace=client.namespace,
            task_queue=TaskQueue(name=TASK_QUEUE),
            task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if process.child.returncode is not None:
                raise RuntimeError(
                    f"{process.role} exited with {process.child.returncode} before it was ready"
                )
            pollers = (await client.workflow_service.describe_task_queue(request)).pollers
            if any(p.identity == identity for p in pollers):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"{process.role} not polling within {READY_TIMEOUT_S:.0f}s")
            await asyncio.sleep(0.3)

    async def temporal_client(self) -> Client:
        if self._client is None:
            self._client = await Client.connect(self.temporal_address)
        return self._client

    async def close(self) -> None:
        for role in list(self.roles):
            with contextlib.suppress(Exception):
                await self.stop(role)
        for child in reversed(self.infra):
            with contextlib.suppress(Exception):
                await child.stop()
        self.infra.clear()


async def _admin(server_url: str, *statements: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(server_url, timeout=5)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def scratch_database(server_url: str, name: str) -> AsyncIterator[str]:
    """A fresh, empty PostgreSQL database on `server_url` (asyncpg DSN of any existing database) for the
    duration of the block; yields its SQLAlchemy URL and drops it afterwards (the run's logs and report stay)."""
    drop = f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'
    await _admin(server_url, drop, f'CREATE DATABASE "{name}"')
    base = server_url.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
    try:
        yield f"{base}/{name}"
    finally:
        await _admin(server_url, drop)
