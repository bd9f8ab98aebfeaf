"""`keptn-temporal up`: the whole control plane on one machine, in the foreground.

Start order: Temporal dev server and nats-server (unless TEMPORAL_ADDRESS / NATS_URL point elsewhere),
wait until both answer, migrate in-process, then the API and one worker as subprocesses, wait until the
API is ready and the worker answers a ping, print where everything is. Stop order is the reverse:
API and worker first (they drain into NATS and Temporal), then the servers. Any child that dies on its
own takes the whole stack down with a non-zero exit, so a half-working stack never looks healthy.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TextIO, TypeVar

import httpx
from temporalio.client import Client

from keptn_temporal.embedded import (
    EmbeddedError,
    nats_ready,
    nats_spec,
    port_in_use,
    temporal_ready,
    temporal_spec,
)
from keptn_temporal.migrate import migrate
from keptn_temporal.process import Child, ChildSpec
from keptn_temporal.settings import Settings
from workflows.health import ping_control_plane

log = logging.getLogger(__name__)

T = TypeVar("T")

APP_COMPONENTS = ("api", "worker")
STARTUP_TIMEOUT_S = 90.0
API_STOP_TIMEOUT_S = 40.0  # the API drains requests for up to 30 s (api/server.py)
# A second Ctrl-C later than this after the first one means "kill now".
FORCE_AFTER_S = 1.0


class StackError(RuntimeError):
    pass


def parse_components(raw: str | None) -> list[str]:
    """`--components` or KEPTN_UP_COMPONENTS (comma separated, default "api,worker"): the app processes
    to run. Running without the API is handy while it is being developed, or to debug the worker."""
    if raw is None:
        raw = os.environ.get("KEPTN_UP_COMPONENTS", ",".join(APP_COMPONENTS))
    chosen = [c.strip() for c in raw.split(",") if c.strip()]
    unknown = sorted(set(chosen) - set(APP_COMPONENTS))
    if unknown:
        raise StackError(f"unknown component(s) {unknown}; known: {', '.join(APP_COMPONENTS)}")
    return chosen


def _app_spec(settings: Settings, component: str) -> ChildSpec:
    extra_env = {
        # Children never start servers of their own: hand them the resolved addresses and an absolute
        # data dir, so they find the same token, key and database whatever their working directory.
        "KEPTN_DATA_DIR": str(settings.data_dir),
        "TEMPORAL_ADDRESS": settings.effective_temporal_address,
        "NATS_URL": settings.effective_nats_url,
        "KEPTN_DATABASE_URL": settings.database_url,
        # One worker: starting it with new code is the upgrade, so its build becomes current.
        "KEPTN_WORKER_PROMOTE": "always",
        "PYTHONUNBUFFERED": "1",
    }
    stop_timeout = API_STOP_TIMEOUT_S if component == "api" else settings.worker_grace_s + 10
    return ChildSpec(
        name=component,
        argv=[sys.executable, "-m", "keptn_temporal.cli", component],
        stop_timeout_s=stop_timeout,
        extra_env=extra_env,
    )


class Stack:
    def __init__(self, settings: Settings, out: TextIO | None = None) -> None:
        self.settings = settings
        self.out = out or sys.stdout
        self.children: list[Child] = []
        self.failed = asyncio.Event()
        self.failure: str | None = None
        self.stop_requested = asyncio.Event()
        self.temporal_client: Client | None = None
        self._watchers: list[asyncio.Task[None]] = []
        self._first_signal_at = 0.0

    # -- children ---------------------------------------------------------------------------------

    async def start_child(self, spec: ChildSpec) -> Child:
        child = Child(spec, self.out)
        await child.start()
        self.children.append(child)
        self._watchers.append(asyncio.create_task(self._watch(child), name=f"{spec.name}-watch"))
        return child

    async def _watch(self, child: Child) -> None:
        rc = await child.wait()
        if not child.stopping and not self.failed.is_set():
            self.failure = f"{child.name} exited unexpectedly with code {rc}"
            self.failed.set()

    async def stop_all(self) -> None:
        # Apps first: they may still publish to NATS or complete activities against Temporal while draining.
        apps = [c for c in self.children if c.name in APP_COMPONENTS]
        servers = [c for c in self.children if c.name not in APP_COMPONENTS]
        for group in (apps, servers):
            results = await asyncio.gather(*(c.stop() for c in group))
            for child, rc in zip(group, results, strict=True):
                if rc not in (None, 0) and not (child.name in ("temporal", "nats") and rc < 0):
                    log.warning("%s exited with code %s", child.name, rc)

    def kill_all(self) -> None:
        for child in self.children:
            child.signal(signal.SIGKILL)

    # -- waiting ----------------------------------------------------------------------------------

    async def until(self, what: str, probe: Callable[[], Awaitable[T]], timeout_s: float) -> T:
        """Retry `probe` until it succeeds; give up early if any child died (no point waiting then)."""
        deadline = time.monotonic() + timeout_s
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.failed.is_set():
                raise StackError(f"{self.failure} while waiting for {what}")
            try:
                return await asyncio.wait_for(probe(), max(0.5, deadline - time.monotonic()))
            except Exception as exc:
                last = exc
            await asyncio.sleep(0.3)
        raise StackError(f"{what} not ready after {timeout_s:.0f}s: {last!r}")

    def preflight(self, components: Iterable[str]) -> None:
        s = self.settings
        ports = []
        if s.temporal_address is None:
            ports += [
                ("Temporal", "127.0.0.1", s.temporal_port),
                ("Temporal UI", "127.0.0.1", s.temporal_ui_port),
            ]
        if s.nats_url is None:
            ports.append(("NATS", "127.0.0.1", s.nats_port))
        if "api" in components:
            ports.append(("API", s.api_host, s.api_port))
        busy = [f"{what} port {port}" for what, host, port in ports if port_in_use(host, port)]
        if busy:
            raise StackError(
                f"{', '.join(busy)} already in use (another `up`?). Stop it or choose other ports via "
                "KEPTN_TEMPORAL_PORT, KEPTN_TEMPORAL_UI_PORT, KEPTN_NATS_PORT, KEPTN_API_PORT."
            )

    # -- phases -----------------------------------------------------------------------------------

    async def start_servers(self) -> None:
        s = self.settings
        s.data_dir.mkdir(parents=True, exist_ok=True)
        probes: list[Awaitable[object]] = []
        if s.temporal_address is None:
            await self.start_child(temporal_spec(s))
        if s.nats_url is None:
            await self.start_child(nats_spec(s))
        probes.append(self.until("Temporal", lambda: temporal_ready(s), STARTUP_TIMEOUT_S))
        probes.append(self.until("NATS", lambda: nats_ready(s.effective_nats_url), STARTUP_TIMEOUT_S))
        client, _ = await asyncio.gather(*probes)
        self.temporal_client = client  # type: ignore[assignment]

    async def start(self, components: list[str]) -> None:
        self.preflight(components)
        await self.start_servers()
        log.info("migrating")
        await migrate(self.settings, temporal_client=self.temporal_client)
        for component in components:
            await self.start_child(_app_spec(self.settings, component))
        if "api" in components:
            await self.until("API /readyz", self._api_ready, STARTUP_TIMEOUT_S)
        if "worker" in components:
            assert self.temporal_client is not None
            client = self.temporal_client
            await self.until(
                "worker ping",
                lambda: ping_control_plane(
                    client,
                    self.settings.task_queue,
                    requested_by="keptn-temporal up",
                    execution_timeout=timedelta(seconds=20),
                ),
                STARTUP_TIMEOUT_S,
            )

    async def _api_ready(self) -> None:
        host = "127.0.0.1" if self.settings.api_host in ("0.0.0.0", "") else self.settings.api_host
        async with httpx.AsyncClient(timeout=2) as http:
            resp = await http.get(f"http://{host}:{self.settings.api_port}/readyz")
        if resp.status_code != 200:
            raise StackError(f"/readyz answered {resp.status_code}")

    # -- the whole run ----------------------------------------------------------------------------

    async def run(self, start: Callable[[], Awaitable[None]], banner: Callable[[], str]) -> int:
        """Run `start`, print `banner`, wait for a signal or a dying child, stop everything."""
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, self._on_signal, signum)
        startup = asyncio.create_task(start(), name="startup")
        stop_wait = asyncio.create_task(self.stop_requested.wait())
        fail_wait = asyncio.create_task(self.failed.wait())
        rc = 0
        try:
            done, _ = await asyncio.wait({startup, stop_wait, fail_wait}, return_when=asyncio.FIRST_COMPLETED)
            if startup in done:
                startup.result()  # raises StackError / EmbeddedError on a failed start
                self._print(banner())
                await asyncio.wait({stop_wait, fail_wait}, return_when=asyncio.FIRST_COMPLETED)
            else:
                startup.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await startup
            if self.failed.is_set() and not self.stop_requested.is_set():
                log.error("%s; stopping everything", self.failure)
                rc = 1
        except (StackError, EmbeddedError) as exc:
            log.error("%s", exc)
            rc = 1
        except Exception:
            log.exception("startup failed")
            rc = 1
        finally:
            stop_wait.cancel()
            fail_wait.cancel()
            self._print("stopping ...")
            await self.stop_all()
            for signum in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(signum)
        self._print("stopped" if rc == 0 else f"stopped (exit code {rc})")
        return rc

    def _on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if not self.stop_requested.is_set():
            log.info("%s received", name)
            self._first_signal_at = time.monotonic()
            self.stop_requested.set()
        elif time.monotonic() - self._first_signal_at > FORCE_AFTER_S:
            log.warning("second %s: killing all children", name)
            self.kill_all()
        # else: the same stop request delivered twice (a terminal Ctrl-C reaches both `make` and us, and
        # make forwards it once more), not a second press.

    def _print(self, text: str) -> None:
        self.out.write(text + "\n")
        self.out.flush()


# -- entry points used by the CLI ------------------------------------------------------------------


@contextlib.contextmanager
def _data_dir_lock(settings: Settings) -> Iterator[None]:
    """One `up` per data dir: two Temporal or NATS servers on the same files would corrupt them."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with open(settings.data_dir / ".up.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StackError(f"another `keptn-temporal up` is running on {settings.data_dir}") from None
        handle.write(f"{os.getpid()}\n")
        handle.flush()
        yield


def _token_line(settings: Settings) -> str:
    if not settings.api_token_generated:
        return f"{settings.api_token}  (from KEPTN_API_TOKEN)"
    path = settings.data_dir / "api-token"
    created = datetime.fromtimestamp(path.stat().st_mtime, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{settings.api_token}  (generated {created}, kept in {path})"


def up_banner(settings: Settings, components: list[str]) -> str:
    s = settings
    api_host = "127.0.0.1" if s.api_host in ("0.0.0.0", "") else s.api_host
    temporal_ui = (
        f"http://127.0.0.1:{s.temporal_ui_port}" if s.temporal_address is None else "(external Temporal)"
    )
    lines = [
        "",
        "keptn-temporal is up",
        f"  API           http://{api_host}:{s.api_port}"
        if "api" in components
        else "  API           (not started)",
        f"  API token     {_token_line(s)}",
        f"  Temporal UI   {temporal_ui}",
        f"  Temporal      {s.effective_temporal_address} (namespace {s.temporal_namespace}, "
        f"task queue {s.task_queue})",
        f"  NATS          {s.effective_nats_url} (stream {s.stream_name})",
        f"  Data dir      {s.data_dir}",
        f"  Worker        {'running' if 'worker' in components else '(not started)'}",
        "Press Ctrl-C to stop.",
        "",
    ]
    return "\n".join(lines)


def up(settings: Settings, components: str | None = None) -> int:
    try:
        chosen = parse_components(components)
        with _data_dir_lock(settings):
            stack = Stack(settings)
            return asyncio.run(stack.run(lambda: stack.start(chosen), lambda: up_banner(settings, chosen)))
    except StackError as exc:
        log.error("%s", exc)
        return 1


def run_server(settings: Settings, which: str) -> int:
    """`keptn-temporal temporal|nats`: just one embedded server in the foreground (for debugging)."""

    async def start(stack: Stack) -> None:
        stack.preflight([])
        spec = temporal_spec(settings) if which == "temporal" else nats_spec(settings)
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        await stack.start_child(spec)
        if which == "temporal":
            await stack.until("Temporal", lambda: temporal_ready(settings), STARTUP_TIMEOUT_S)
        else:
            await stack.until("NATS", lambda: nats_ready(settings.effective_nats_url), STARTUP_TIMEOUT_S)

    def banner() -> str:
        if which == "temporal":
            return (
                f"Temporal dev server at {settings.effective_temporal_address}, "
                f"UI http://127.0.0.1:{settings.temporal_ui_port}, data {settings.data_dir / 'temporal.db'}"
            )
        return f"nats-server at {settings.effective_nats_url}, JetStream store {settings.data_dir / 'nats'}"

    embedded = settings.temporal_address is None if which == "temporal" else settings.nats_url is None
    if not embedded:
        log.error(
            "%s is external (%s is set); nothing to run",
            which,
            "TEMPORAL_ADDRESS" if which == "temporal" else "NATS_URL",
        )
        return 1
    stack = Stack(settings)
    return asyncio.run(stack.run(lambda: start(stack), banner))


@contextlib.asynccontextmanager
async def embedded_nats(settings: Settings) -> AsyncIterator[None]:
    """A temporary embedded nats-server, for `migrate` when `up` is not running."""
    stack = Stack(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    await stack.start_child(nats_spec(settings))
    try:
        await stack.until("NATS", lambda: nats_ready(settings.effective_nats_url), STARTUP_TIMEOUT_S)
        yield
    finally:
        await stack.stop_all()
