"""`keptn-temporal`: one console script for every process of the control plane.

    up        the whole embedded stack in the foreground (what `make up` runs)
    migrate   database schema + JetStream stream (+ search attributes on an external Temporal)
    api       one API replica
    worker    one Temporal worker
    rollout   move the worker deployment's current version (upgrade / downgrade)
    replay    replay workflow histories against this build's workflow code
    temporal  just the embedded Temporal dev server (debugging)
    nats      just the embedded nats-server (debugging)

Every path ends in os._exit(): a process that used a Temporal client can crash in interpreter
finalization (temporalio/sdk-python#300, notes/temporal.md 4.3), turning a clean exit into SIGABRT.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn

from keptn_temporal.settings import Settings, load_settings

log = logging.getLogger("keptn_temporal")


def _cmd_up(settings: Settings, args: argparse.Namespace) -> int:
    from keptn_temporal import stack

    return stack.up(settings, args.components)


def _cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    from keptn_temporal import embedded, stack
    from keptn_temporal.migrate import migrate

    async def run() -> None:
        # With the embedded NATS and no `up` running, start it just for the migration: the stream lives
        # in its store, and `make migrate` should not need a running stack.
        if settings.nats_url is None and not await embedded.nats_reachable(settings.effective_nats_url):
            async with stack.embedded_nats(settings):
                await migrate(settings)
        else:
            await migrate(settings)

    asyncio.run(run())
    log.info("migration complete")
    return 0


def _cmd_api(settings: Settings, args: argparse.Namespace) -> int:
    from api.server import serve  # lazy: the worker and migrate need none of FastAPI

    return serve(settings)


def _cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    from worker.main import main as worker_main

    return worker_main(settings)


def _cmd_rollout(settings: Settings, args: argparse.Namespace) -> int:
    from keptn_temporal import rollout

    return rollout.main(settings, args)


def _cmd_replay(settings: Settings, args: argparse.Namespace) -> int:
    from keptn_temporal import replay

    return replay.main(settings, args)


def _cmd_server(which: str) -> Callable[[Settings, argparse.Namespace], int]:
    def run(settings: Settings, args: argparse.Namespace) -> int:
        from keptn_temporal import stack

        return stack.run_server(settings, which)

    return run


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="keptn-temporal", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    up = sub.add_parser("up", help="run the whole stack in the foreground")
    up.add_argument(
        "--components",
        help="app processes to run, comma separated (default: $KEPTN_UP_COMPONENTS or api,worker)",
    )
    up.set_defaults(func=_cmd_up)
    sub.add_parser("migrate", help="migrate database, stream and search attributes").set_defaults(
        func=_cmd_migrate
    )
    sub.add_parser("api", help="run one API replica").set_defaults(func=_cmd_api)
    sub.add_parser("worker", help="run one Temporal worker").set_defaults(func=_cmd_worker)
    rollout = sub.add_parser("rollout", help="move the current worker version forward or back")
    target = rollout.add_mutually_exclusive_group(required=True)
    target.add_argument("--to", metavar="BUILD_ID", help="make this build the current version")
    target.add_argument("--status", action="store_true", help="print the deployment's versions")
    rollout.add_argument(
        "--wait-drained", action="store_true", help="wait until the previous build is drained"
    )
    rollout.add_argument(
        "--timeout", type=float, default=600.0, help="seconds to wait for workers / drainage"
    )
    rollout.set_defaults(func=_cmd_rollout)
    replay = sub.add_parser("replay", help="replay histories (files or a visibility query) on this build")
    replay.add_argument("files", nargs="*", type=Path, help="history JSON files")
    replay.add_argument("--query", help="a visibility query selecting workflows to replay")
    replay.add_argument("--export", type=Path, metavar="DIR", help="write the query's histories to DIR")
    replay.set_defaults(func=_cmd_replay)
    sub.add_parser("temporal", help="run only the embedded Temporal dev server").set_defaults(
        func=_cmd_server("temporal")
    )
    sub.add_parser("nats", help="run only the embedded nats-server").set_defaults(func=_cmd_server("nats"))
    return parser


def _configure_logging() -> None:
    level = os.environ.get("KEPTN_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # One INFO line per HTTP request (the readiness polls of `up`) is noise.
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))


def _exit(code: int) -> NoReturn:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    logging.shutdown()
    os._exit(code)


def main(argv: Sequence[str] | None = None) -> NoReturn:
    args = _parser().parse_args(argv)
    _configure_logging()
    try:
        code = args.func(load_settings(), args)
    except KeyboardInterrupt:
        code = 130
    except Exception:
        log.exception("keptn-temporal %s failed", args.command)
        code = 1
    _exit(code)


if __name__ == "__main__":
    main()
