"""A child process of the `up` supervisor: started, its output forwarded with a prefix, stopped in order."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TextIO

log = logging.getLogger(__name__)

_PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True) if sys.platform.startswith("linux") else None


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. If the supervisor is SIGKILLed its children get SIGTERM
    # instead of living on as orphans that hold the ports and data files of the next `make up`.
    if _libc is not None:
        _libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


@dataclass
class ChildSpec:
    name: str
    argv: Sequence[str]
    # How long the child may take to exit after SIGTERM before it gets SIGKILL.
    stop_timeout_s: float = 15.0
    env: Mapping[str, str] | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)
    # Drop the child's output once we asked it to stop (the dev server logs a burst of harmless warnings
    # about its own internal connections closing).
    mute_when_stopping: bool = False


class Child:
    def __init__(self, spec: ChildSpec, out: TextIO | None = None) -> None:
        self.spec = spec
        self._out = out or sys.stdout
        self._proc: asyncio.subprocess.Process | None = None
        self._pump: asyncio.Task[None] | None = None
        self.stopping = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def returncode(self) -> int | None:
        return self._proc.returncode if self._proc else None

    async def start(self) -> None:
        env = dict(self.spec.env if self.spec.env is not None else os.environ)
        env.update(self.spec.extra_env)
        self._proc = await asyncio.create_subprocess_exec(
            *self.spec.argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            env=env,
            # Own process group: a Ctrl-C in the terminal reaches only the supervisor, which then stops
            # the children in dependency order (API and worker before NATS and Temporal).
            process_group=0,
            preexec_fn=_die_with_parent,
        )
        self._pump = asyncio.create_task(self._forward_output(), name=f"{self.name}-output")
        log.debug("started %s (pid %d): %s", self.name, self._proc.pid, " ".join(self.spec.argv))

    async def _forward_output(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        prefix = f"[{self.name}] "
        pending = b""
        # Chunks rather than readline(): a child's very long line must not stall or kill the pump.
        while chunk := await self._proc.stdout.read(65536):
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if self.stopping and self.spec.mute_when_stopping:
                continue
            for line in lines:
                self._write(prefix + line.decode(errors="replace").rstrip("\r"))
        if pending and not (self.stopping and self.spec.mute_when_stopping):
            self._write(prefix + pending.decode(errors="replace"))

    def _write(self, line: str) -> None:
        try:
            self._out.write(line + "\n")
            self._out.flush()
        except (BrokenPipeError, ValueError):  # terminal gone or stream closed: keep draining the pipe
            pass

    async def wait(self) -> int:
        assert self._proc is not None
        rc = await self._proc.wait()
        if self._pump is not None:
            await self._pump
        return rc

    def signal(self, signum: int) -> None:
        if self._proc is not None and self._proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self._proc.send_signal(signum)

    async def stop(self) -> int | None:
        """SIGTERM, wait up to stop_timeout_s, then SIGKILL. Returns the exit code (None if never started)."""
        if self._proc is None:
            return None
        self.stopping = True
        if self._proc.returncode is None:
            self.signal(signal.SIGTERM)
            try:
                return await asyncio.wait_for(asyncio.shield(self.wait()), self.spec.stop_timeout_s)
            except TimeoutError:
                log.warning("%s did not stop within %.0fs; killing it", self.name, self.spec.stop_timeout_s)
                self.signal(signal.SIGKILL)
        return await self.wait()
