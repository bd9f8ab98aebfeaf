"""Executor processes of the drill: start, graceful restart (SIGTERM), crash (kill -9) and restart."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from deploy.drill.executors import TOKEN_ENV, ExecutorSpec
from deploy.drill.journal import read_journal

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT_S = 90.0
STOP_TIMEOUT_S = 45.0


@dataclass(frozen=True)
class ExecutorTarget:
    """Where the executors connect and what they serve."""

    project: str
    gateway_url: str
    token: str
    nats_url: str
    python: str
    min_delay_s: float
    max_delay_s: float


@dataclass
class ExecutorProcess:
    spec: ExecutorSpec
    name: str
    target: ExecutorTarget
    workdir: Path
    proc: asyncio.subprocess.Process | None = None
    starts: int = 0
    terms: int = 0
    kills: int = 0
    restart_s: list[float] = field(default_factory=list)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _output: IO[bytes] | None = None

    @property
    def journal(self) -> Path:
        return self.workdir / f"{self.name}.jsonl"

    @property
    def output(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def command(self) -> list[str]:
        t = self.target
        args = [t.python, "-m", "deploy.drill.executors", "--name", self.name, "--project", t.project]
        for task in self.spec.tasks:
            args += ["--task", task]
        return [
            *args,
            *("--gateway", t.gateway_url, "--nats", t.nats_url, "--journal", str(self.journal)),
            *("--via", self.spec.via, "--min-delay", str(t.min_delay_s), "--max-delay", str(t.max_delay_s)),
        ]

    async def start(self) -> None:
        """Start and wait until the executor has bound its durable consumer."""
        env = dict(os.environ)
        env[TOKEN_ENV] = self.target.token
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO_ROOT), env.get("PYTHONPATH", "")) if p)
        env["PYTHONUNBUFFERED"] = "1"
        if self._output is None:
            self._output = self.output.open("ab")
        self.proc = await asyncio.create_subprocess_exec(
            *self.command(), cwd=REPO_ROOT, env=env, stdout=self._output, stderr=asyncio.subprocess.STDOUT
        )
        self.starts += 1
        await self._wait_ready(self.proc)

    async def _wait_ready(self, proc: asyncio.subprocess.Process) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            records = await asyncio.to_thread(read_journal, self.journal)
            if any(r["rec"] == "ready" and r["pid"] == proc.pid for r in records):
                return
            if proc.returncode is not None or time.monotonic() > deadline:
                tail = (await asyncio.to_thread(self.output.read_bytes))[-3000:].decode(errors="replace")
                raise RuntimeError(f"executor {self.name} not ready (exit code {proc.returncode}):\n{tail}")
            await asyncio.sleep(0.2)

    async def stop(self, *, kill: bool = False) -> None:
        proc = self.proc
        if proc is None or proc.returncode is not None:
            return
        proc.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), STOP_TIMEOUT_S)
        except TimeoutError:
            proc.kill()
            await proc.wait()

    async def restart(self, *, kill: bool) -> None:
        async with self._lock:
            started = time.monotonic()
            await self.stop(kill=kill)
            if kill:
                self.kills += 1
            else:
                self.terms += 1
            await self.start()
            self.restart_s.append(round(time.monotonic() - started, 2))

    async def close(self) -> None:
        async with self._lock:
            await self.stop()
        if self._output is not None:
            self._output.close()
            self._output = None

    async def records(self) -> list[dict[str, Any]]:
        return await asyncio.to_thread(read_journal, self.journal)
