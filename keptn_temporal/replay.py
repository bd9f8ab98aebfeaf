"""`keptn-temporal replay`: can this build's workflow code replay these histories?

    keptn-temporal replay FILE...                      histories exported as JSON (tests/replay/histories)
    keptn-temporal replay --query 'WorkflowType="Sequence"'   live histories from Temporal
    keptn-temporal replay --query ... --export DIR     save them as JSON files instead (refreshing the corpus)

Sequences and lanes are AUTO_UPGRADE, so every build must replay the histories of the builds it is upgraded
from *and* downgraded to: run this with the new build before a rollout and with the old build before a
rollback. Prints a JSON summary; exits 1 if any history fails (a non-determinism error names the event).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
from collections.abc import Iterable
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.worker import Replayer

from keptn_temporal.settings import Settings
from keptn_temporal.temporal_client import connect_client


def load_history(path: Path) -> WorkflowHistory:
    return WorkflowHistory.from_json(path.stem, path.read_text())


async def replay(histories: Iterable[WorkflowHistory]) -> dict[str, object]:
    import workflows  # the sandbox re-imports workflow modules; import them only when replaying

    failures: dict[str, str] = {}
    count = 0
    replayer = Replayer(workflows=workflows.ALL_WORKFLOWS)
    for history in histories:
        count += 1
        result = await replayer.replay_workflow(history, raise_on_replay_failure=False)
        if result.replay_failure is not None:
            failures[history.workflow_id] = f"{type(result.replay_failure).__name__}: {result.replay_failure}"
    return {"replayed": count, "failed": len(failures), "failures": failures}


async def fetch_histories(client: Client, query: str) -> list[WorkflowHistory]:
    return [history async for history in client.list_workflows(query).map_histories()]


def file_name(workflow_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", workflow_id).strip("_") + ".json"


async def _run(settings: Settings, args: argparse.Namespace) -> dict[str, object]:
    histories = [load_history(p) for p in args.files]
    if args.query:
        client = await connect_client(settings, identity="keptn-temporal-replay")
        histories += await fetch_histories(client, args.query)
    if args.export:
        args.export.mkdir(parents=True, exist_ok=True)
        for history in histories:
            (args.export / file_name(history.workflow_id)).write_text(history.to_json())
        return {"exported": len(histories), "to": str(args.export)}
    return await replay(histories)


def main(settings: Settings, args: argparse.Namespace) -> int:
    if not args.files and not args.query:
        raise SystemExit("replay: give history files or --query")
    summary = asyncio.run(_run(settings, args))
    print(json.dumps(summary), flush=True)
    return 1 if summary.get("failed") else 0
