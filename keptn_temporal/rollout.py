"""`keptn-temporal rollout`: move the Worker Deployment's current version forward (upgrade) or back
(downgrade), and report how long the build it replaced takes to drain.

    keptn-temporal rollout --status                  routing and versions, as JSON
    keptn-temporal rollout --to <build> [--wait-drained]

The build must have live workers (a version exists once one of its workers polled). Sequences and lanes are
AUTO_UPGRADE: they move to the new build at their next workflow task, so the old build is drained as soon as
its last pinned run (a ping) closes. Keep the old build's workers until then (docs/upgrades.md).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from datetime import UTC, datetime

from keptn_temporal import versioning
from keptn_temporal.settings import Settings
from keptn_temporal.temporal_client import connect_client


async def rollout(settings: Settings, args: argparse.Namespace) -> dict[str, object]:
    client = await connect_client(settings, identity="keptn-temporal-rollout")
    if args.status:
        state = await versioning.describe(client)
        return state.as_dict() if state else {"deployment": versioning.deployment_name(), "versions": []}
    started = time.monotonic()
    previous = await versioning.set_current(client, args.to, timeout_s=args.timeout)
    report: dict[str, object] = {
        "deployment": versioning.deployment_name(),
        "current": args.to,
        "previous": previous,
        "switched_at": datetime.now(UTC).isoformat(),
        "switch_s": round(time.monotonic() - started, 3),
    }
    if args.wait_drained and previous and previous != args.to:
        drained = await versioning.wait_drained(client, previous, args.timeout)
        report["previous_drained_after_s"] = None if drained is None else round(drained, 1)
        if drained is None:
            raise versioning.RolloutError(f"build {previous} did not drain within {args.timeout:.0f}s")
    return report


def main(settings: Settings, args: argparse.Namespace) -> int:
    print(json.dumps(asyncio.run(rollout(settings, args))), flush=True)
    return 0
