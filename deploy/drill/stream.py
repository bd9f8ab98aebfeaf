"""What actually went over the wire: every message of the project on the KEPTN stream since the drill began.

The datastore stores an event once per id, so it cannot show an event that was published twice; the stream
can (past JetStream's de-duplication window, or with a different Nats-Msg-Id). It is read once at the end
with an ephemeral consumer that acknowledges nothing and disappears on its own.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import nats
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

STREAM = "KEPTN"
FETCH_BATCH = 256


async def stream_position(nats_url: str) -> int:
    """The stream's last sequence number now."""
    nc = await nats.connect(nats_url, name="drill-stream-position")
    try:
        return int((await nc.jetstream(timeout=5).stream_info(STREAM)).state.last_seq)
    finally:
        await nc.close()


async def project_messages(nats_url: str, project: str, after_seq: int) -> list[dict[str, Any]]:
    """The CloudEvents of `project` on the stream after sequence `after_seq`, in stream order."""
    nc = await nats.connect(nats_url, name="drill-stream-reader")
    try:
        js = nc.jetstream(timeout=10)
        end = int((await js.stream_info(STREAM)).state.last_seq)
        if end <= after_seq:
            return []
        sub = await js.pull_subscribe(
            "sh.keptn.>",
            stream=STREAM,
            config=ConsumerConfig(
                deliver_policy=DeliverPolicy.BY_START_SEQUENCE,
                opt_start_seq=after_seq + 1,
                ack_policy=AckPolicy.NONE,
                inactive_threshold=60,
            ),
        )
        events: list[dict[str, Any]] = []
        seq = after_seq
        while seq < end:
            try:
                msgs = await sub.fetch(FETCH_BATCH, timeout=5)
            except TimeoutError:
                break
            for msg in msgs:
                seq = msg.metadata.sequence.stream
                try:
                    event = json.loads(msg.data)
                except ValueError:
                    continue
                if isinstance(event, dict) and (event.get("data") or {}).get("project") == project:
                    events.append(event)
        await sub.unsubscribe()
        return events
    finally:
        await nc.close()


def duplicate_ids(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    counts = Counter(e.get("id") for e in events)
    return [
        {"id": i, "seen": n, "type": next(e["type"] for e in events if e.get("id") == i)}
        for i, n in counts.items()
        if n > 1
    ]
