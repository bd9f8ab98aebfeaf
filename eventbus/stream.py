"""The KEPTN stream: its configuration and the one place that creates or changes it.

`ensure_stream` belongs to `keptn-temporal migrate` only. Replicas never create or update the stream:
with create-or-update at startup, old and new replicas of a rolling upgrade (or downgrade) would keep
rewriting each other's configuration, and Keptn once narrowed a shared stream exactly that way
(notes/nats-and-rollouts.md §0.5 and §2.1 row 14).
"""

from __future__ import annotations

import logging
import math
from enum import StrEnum

from nats.js import JetStreamContext
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DeliverPolicy,
    DiscardPolicy,
    RetentionPolicy,
    StorageType,
    StreamConfig,
)
from nats.js.errors import NotFoundError

from keptn_temporal.settings import STREAM_SUBJECTS, Settings

log = logging.getLogger(__name__)


class StreamChange(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


class StreamConfigError(RuntimeError):
    """The existing stream differs in a way JetStream cannot change in place (storage, retention)."""


def stream_config(settings: Settings) -> StreamConfig:
    return StreamConfig(
        name=settings.stream_name,
        subjects=list(STREAM_SUBJECTS),
        # LIMITS, not WORK_QUEUE (one consumer per subject) or INTEREST (drops events nobody consumes yet):
        # every Keptn event fans out to several services, and events published before a service
        # subscribes must still be there for it.
        retention=RetentionPolicy.LIMITS,
        storage=StorageType.FILE,
        max_age=settings.stream_max_age_s,
        # The API retries with the same CloudEvent id as Nats-Msg-Id; the window must outlast the retries.
        duplicate_window=settings.stream_duplicate_window_s,
        discard=DiscardPolicy.OLD,
        # R1 fits the single embedded server; a 3-node cluster wants R3 (a later, explicit migration).
        num_replicas=1,
    )


def _same_seconds(a: float | None, b: float | None) -> bool:
    # The server stores durations in ns and nats-py hands them back as float seconds.
    return math.isclose(a or 0.0, b or 0.0, abs_tol=1e-6)


def _differences(current: StreamConfig, desired: StreamConfig) -> list[str]:
    """Only the fields we own; the server fills in defaults for everything else."""
    diffs = []
    if sorted(current.subjects or []) != sorted(desired.subjects or []):
        diffs.append(f"subjects {current.subjects} -> {desired.subjects}")
    for name in ("retention", "storage", "discard", "num_replicas"):
        if getattr(current, name) != getattr(desired, name):
            diffs.append(f"{name} {getattr(current, name)} -> {getattr(desired, name)}")
    for name in ("max_age", "duplicate_window"):
        if not _same_seconds(getattr(current, name), getattr(desired, name)):
            diffs.append(f"{name} {getattr(current, name)}s -> {getattr(desired, name)}s")
    return diffs


async def ensure_stream(js: JetStreamContext, settings: Settings) -> StreamChange:
    """Create the stream if it is missing; update it only if one of our fields differs."""
    desired = stream_config(settings)
    try:
        info = await js.stream_info(settings.stream_name)
    except NotFoundError:
        await js.add_stream(desired)
        log.info("stream %s created", settings.stream_name)
        return StreamChange.CREATED

    diffs = _differences(info.config, desired)
    if not diffs:
        return StreamChange.UNCHANGED
    immutable = [d for d in diffs if d.startswith(("storage", "retention"))]
    if immutable:
        raise StreamConfigError(
            f"stream {settings.stream_name} cannot be changed in place ({'; '.join(immutable)}); "
            "migrate it by hand (create a new stream, move consumers, delete the old one)"
        )
    # Start from the server's config so fields we do not own (set by an operator) survive the update.
    updated = info.config.evolve(
        subjects=desired.subjects,
        discard=desired.discard,
        num_replicas=desired.num_replicas,
        max_age=desired.max_age,
        duplicate_window=desired.duplicate_window,
    )
    await js.update_stream(updated)
    log.info("stream %s updated: %s", settings.stream_name, "; ".join(diffs))
    return StreamChange.UPDATED


# The control plane's own durable consumer: every replica of the worker binds to it, so each event is handled
# once (stored in the datastore, routed to its sequence). Keptn's equivalent was shipyard-controller:all-events.
CONTROL_PLANE_CONSUMER = "keptn-control-plane"


def consumer_config(settings: Settings) -> ConsumerConfig:
    return ConsumerConfig(
        durable_name=CONTROL_PLANE_CONSUMER,
        deliver_policy=DeliverPolicy.ALL,
        ack_policy=AckPolicy.EXPLICIT,
        # A killed replica's unacked events go to another replica after this long.
        ack_wait=30,
        # Unlimited: a handler that fails because the database or Temporal is down must be retried until
        # they are back; undecodable messages are terminated explicitly instead.
        max_deliver=-1,
        max_ack_pending=1000,
        filter_subject="sh.keptn.>",
    )


async def ensure_consumer(js: JetStreamContext, settings: Settings) -> StreamChange:
    """Create the control-plane consumer if missing, or update the fields we own (migrate only)."""
    desired = consumer_config(settings)
    try:
        info = await js.consumer_info(settings.stream_name, CONTROL_PLANE_CONSUMER)
    except NotFoundError:
        await js.add_consumer(settings.stream_name, desired)
        log.info("consumer %s created", CONTROL_PLANE_CONSUMER)
        return StreamChange.CREATED
    current = info.config
    same = (
        current.filter_subject == desired.filter_subject
        and _same_seconds(current.ack_wait, desired.ack_wait)
        and current.max_deliver == desired.max_deliver
        and current.max_ack_pending == desired.max_ack_pending
    )
    if same:
        return StreamChange.UNCHANGED
    await js.add_consumer(settings.stream_name, desired)  # create-or-update of the mutable fields
    log.info("consumer %s updated", CONTROL_PLANE_CONSUMER)
    return StreamChange.UPDATED
