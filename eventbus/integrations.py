"""A durable JetStream pull consumer per uniform integration.

Keptn's integrations subscribed to core NATS, so an executor that was down missed every event published
meanwhile. Here each registered integration also gets a durable pull consumer on the KEPTN stream, named
after the integration and filtered to the event types of its subscriptions: its replicas bind to it with
`js.pull_subscribe_bind(durable=<name>, stream="KEPTN")` (queue semantics, one delivery per event) and a
restarted executor continues where it stopped.

The API keeps the consumer in line with the subscriptions whenever they change. That is best effort: a NATS
failure is logged and never fails the HTTP call; the next registration or subscription change repairs it.
All replicas derive the same configuration from the database, so concurrent updates converge.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Iterable
from typing import Any

from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from nats.js.errors import NotFoundError

log = logging.getLogger(__name__)

ACK_WAIT_S = 60.0
TIMEOUT_S = 5.0
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def consumer_name(integration_name: str) -> str:
    """The durable's name: the integration name with everything outside [A-Za-z0-9_-] replaced by '_'."""
    return _UNSAFE.sub("_", integration_name) or "_"


def subscription_subjects(subscriptions: Iterable[dict[str, Any]]) -> list[str]:
    """Distinct event types of the subscriptions, in first-seen order (the subject of an event is its type)."""
    seen: dict[str, None] = {}
    for sub in subscriptions:
        event = sub.get("event")
        if isinstance(event, str) and event:
            seen.setdefault(event, None)
    return list(seen)


async def ensure_integration_consumer(
    js: JetStreamContext, stream: str, integration_name: str, subscriptions: Iterable[dict[str, Any]]
) -> str | None:
    """Create the integration's durable consumer, or update its subject filter; returns the durable name,
    or None when there is nothing to subscribe to (no consumer is created then, and an existing one is left
    as it is so its position survives a subscription gap). Raises NATS errors (see `sync_integration_consumer`
    for the best-effort variant)."""
    subjects = subscription_subjects(subscriptions)
    if not subjects:
        return None
    durable = consumer_name(integration_name)
    try:
        info = await js.consumer_info(stream, durable)
    except NotFoundError:
        info = None
    if info is None:
        config = ConsumerConfig(
            durable_name=durable,
            deliver_policy=DeliverPolicy.NEW,
            ack_policy=AckPolicy.EXPLICIT,
            ack_wait=ACK_WAIT_S,
            filter_subjects=subjects,
        )
        await js.add_consumer(stream, config)
        log.info("consumer %s created for integration %s: %s", durable, integration_name, subjects)
        return durable
    current = list(
        info.config.filter_subjects or ([info.config.filter_subject] if info.config.filter_subject else [])
    )
    if sorted(current) == sorted(subjects):
        return durable
    # Only the filter changes; deliver policy and position stay (they cannot be changed in place anyway).
    updated = info.config.evolve(filter_subject=None, filter_subjects=subjects)
    await js.add_consumer(stream, updated)
    log.info("consumer %s of integration %s now filters %s", durable, integration_name, subjects)
    return durable


async def sync_integration_consumer(
    nc: Any, stream: str, integration_name: str, subscriptions: Iterable[dict[str, Any]]
) -> str | None:
    """Best-effort `ensure_integration_consumer` on a NATS connection: errors are logged, never raised."""
    subs = list(subscriptions)
    try:
        js = nc.jetstream(timeout=TIMEOUT_S)
        return await asyncio.wait_for(
            ensure_integration_consumer(js, stream, integration_name, subs), timeout=TIMEOUT_S * 2
        )
    except Exception:  # best effort by design: the HTTP answer must not depend on NATS
        log.warning(
            "could not update the JetStream consumer of integration %s", integration_name, exc_info=True
        )
        return None
