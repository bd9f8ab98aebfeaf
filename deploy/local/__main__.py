"""`python -m deploy.local`: the local HA stack by hand (`make ha`).

    python -m deploy.local                     this checkout's venv as the release
    python -m deploy.local --release <rev>     a git revision, installed beside it (.drill/releases)
    python -m deploy.local --release <rev> --upgrade-to HEAD --after 60

Runs nginx in front of 2 API replicas and 2 workers on a fresh PostgreSQL database, prints the gateway URL
and token, and runs until Ctrl-C. With --upgrade-to, it replaces every process by the other release's after
--after seconds, as the drill does (migrate, worker1, rollout, worker2, api1, api2), so a rollout can be
watched with your own client or Keptn CLI against the gateway.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
from pathlib import Path

from deploy.local import releases
from deploy.local.hastack import API_ROLES, WORKER_ROLES, HAStack, scratch_database

REPO = Path(__file__).resolve().parents[2]


def _release(revision: str | None, label: str) -> releases.Release:
    if revision is None:
        return releases.Release.current(label)
    return releases.install(REPO, revision, REPO / ".drill/releases", label)


async def _upgrade(stack: HAStack, target: releases.Release) -> None:
    await stack.migrate(target)
    for index, role in enumerate((*WORKER_ROLES, *API_ROLES)):
        await stack.replace(role, target)
        print(f"replaced {role} by {target.build_id}", flush=True)
        if index == 0:
            print(f"rollout: {await stack.rollout(target)}", flush=True)


async def _main(args: argparse.Namespace) -> None:
    first = _release(args.release, "first")
    second = _release(args.upgrade_to, "second") if args.upgrade_to else None
    async with scratch_database(args.postgres, f"keptn_ha_{os.getpid()}") as database_url:
        workdir = REPO / ".drill" / f"ha-{time.strftime('%Y%m%d-%H%M%S')}"
        stack = HAStack(workdir=workdir, database_url=database_url)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stack.start_all(first)
            print(
                f"gateway {stack.gateway_url}  token {stack.token}\n"
                f"build {first.build_id}; logs in {stack.workdir / 'logs'}; Ctrl-C stops",
                flush=True,
            )
            if second is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), args.after)
                if not stop.is_set():
                    await _upgrade(stack, second)
            await stop.wait()
        finally:
            await stack.close()


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.local", description=__doc__.split("\n\n")[0])
    parser.add_argument("--release", help="git revision to run (default: this checkout's venv)")
    parser.add_argument("--upgrade-to", help="git revision to replace every process with")
    parser.add_argument("--after", type=float, default=60.0, help="seconds before --upgrade-to starts")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("KEPTN_DRILL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    asyncio.run(_main(parser.parse_args()))
    os._exit(0)  # the Temporal client can crash in interpreter finalization (notes/temporal.md 4.3)


if __name__ == "__main__":
    main()
