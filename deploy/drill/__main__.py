"""`make drill` / `python -m deploy.drill`: the zero-downtime drill (deploy/drill/orchestrate.py).

Installs the previous release (deploy/drill/PREVIOUS_RELEASE, a commit of main) and the candidate (HEAD)
side by side under .drill/releases, runs the drill on a fresh PostgreSQL database, prints the report and
writes it as JSON. Exits 1 if anything was lost, duplicated, stuck or failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from deploy.drill.orchestrate import run_drill
from deploy.local import releases
from deploy.local.hastack import HAStack, scratch_database

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent


def _args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m deploy.drill", description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="from_rev", default=(HERE / "PREVIOUS_RELEASE").read_text().split()[0])
    parser.add_argument("--to", dest="to_rev", default="HEAD")
    parser.add_argument("--workdir", type=Path, default=REPO / ".drill")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("KEPTN_DRILL_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
        help="any database on the PostgreSQL server; the drill creates its own next to it",
    )
    parser.add_argument("--steady", type=float, default=30.0, help="seconds of load before the upgrade")
    parser.add_argument("--between", type=float, default=20.0, help="seconds between upgrade and downgrade")
    parser.add_argument("--after", type=float, default=15.0, help="seconds of load after the downgrade")
    parser.add_argument("--finish-timeout", type=float, default=300.0)
    return parser.parse_args(argv)


def _summary(report: dict[str, Any]) -> str:
    load = report.get("load", {})
    checks = ", ".join(f"{k}={v}" for k, v in report["checks"].items())
    lines = [f"drill {'PASSED' if report['ok'] else 'FAILED'}: {checks}"]
    for flip in report["flips"]:
        lines.append(
            f"  {flip['flip']}: {flip['from']} -> {flip['to']} in {flip['seconds']}s, "
            f"old build drained after {flip['old_build_drained_after_s']}s"
        )
    requests = load.get("requests", {})
    latency = requests.get("latency", {})
    lines.append(
        f"  requests: {requests.get('sent')} sent, {requests.get('failed')} failed; latency p50/p99 ms "
        + ", ".join(
            f"{phase} {latency[phase]['all']['p50_ms']}/{latency[phase]['all']['p99_ms']}"
            for phase in ("before", "flips", "after")
            if phase in latency
        )
    )
    sequences, events = load.get("sequences", {}), load.get("events", {})
    lines.append(
        f"  sequences: {sequences.get('triggered')} triggered, {sequences.get('ok')} as expected, "
        f"{sequences.get('stuck')} stuck, {sequences.get('wrong')} wrong"
    )
    lines.append(
        f"  events: {events.get('accepted')} accepted, {events.get('found')} found, {events.get('lost_count')} lost; "
        f"duplicates {load.get('duplicates', {}).get('count')}; "
        f"timer drift max {load.get('short_timer', {}).get('max_abs_drift_s')}s; "
        f"15m timer unchanged {report['long_timer']['unchanged']}"
    )
    lines.append(
        "  replay: "
        + ", ".join(
            f"{k} {v.get('replayed')} replayed/{v.get('failed')} failed" for k, v in report["replay"].items()
        )
    )
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    args.workdir.mkdir(parents=True, exist_ok=True)
    with ThreadPoolExecutor(2) as pool:
        loop = asyncio.get_running_loop()
        old, new = await asyncio.gather(
            loop.run_in_executor(
                pool, releases.install, REPO, args.from_rev, args.workdir / "releases", "previous"
            ),
            loop.run_in_executor(
                pool, releases.install, REPO, args.to_rev, args.workdir / "releases", "candidate"
            ),
        )
    if old.build_id == new.build_id:
        raise SystemExit(f"--from and --to are the same build ({old.build_id})")
    print(f"drill: previous {old.build_id}, candidate {new.build_id}", flush=True)
    run_dir = args.workdir / f"run-{time.strftime('%Y%m%d-%H%M%S')}"
    async with scratch_database(args.postgres, f"keptn_drill_{os.getpid()}") as database_url:
        stack = HAStack(workdir=run_dir, database_url=database_url)
        try:
            report = await run_drill(
                stack,
                old,
                new,
                steady_s=args.steady,
                between_s=args.between,
                after_s=args.after,
                finish_timeout_s=args.finish_timeout,
            )
        finally:
            await stack.close()
    report["logs"] = str(run_dir / "logs")
    for path in (run_dir / "report.json", args.workdir / "report.json"):
        path.write_text(json.dumps(report, indent=2, default=str))
    print(_summary(report), flush=True)
    print(f"report: {args.workdir / 'report.json'}", flush=True)
    return 0 if report["ok"] else 1


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    code = asyncio.run(_main(_args(argv)))
    sys.stdout.flush()
    os._exit(code)  # the Temporal client can crash in interpreter finalization (notes/temporal.md 4.3)


if __name__ == "__main__":
    main()
