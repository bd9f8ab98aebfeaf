"""Read the KEPTN stream through a durable pull consumer shared by all replicas (queue semantics).

A message is acknowledged only after its handler finished — the work is durable — never before (Keptn's
shipyard-controller acked first and lost events when killed mid-processing). A handler failure is negatively
acknowledged with a delay so another replica or a later attempt retries it; a message that can never be
processed (not a CloudEvent) is terminated instead of looping forever.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext

log = logging.getLogger(__name__)

EventHandler = Callable[[dict[str, Any]], Awaitable[None]]


class PoisonMessage(ValueError):
    """The message is not a CloudEvent we can ever handle."""


def decode_event(data: bytes) -> dict[str, Any]:
    try:
        event = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PoisonMessage(f"not JSON: {exc}") from exc
    if not isinstance(event, dict) or not isinstance(event.get("id"), str) or not event.get("type"):
        raise PoisonMessage("not a CloudEvent (no id or type)")
    return event


def ordering_key(event: dict[str, Any]) -> str:
    """Events with the same key are handled in stream order: those of one keptnContext, and the sequence
    triggers (`sh.keptn.event.<stage>.<sequence>.triggered`) of one project/stage/service. The latter is what
    keeps the sequence queue of a service first in, first out (Keptn's dispatcher ordered by trigger time):
    the router queues a sequence in its lane when it handles the trigger, so triggers of one lane handled
    concurrently would queue in any order."""
    event_type = str(event.get("type") or "")
    parts = event_type.split(".")
    if len(parts) == 6 and event_type.startswith("sh.keptn.event.") and parts[5] == "triggered":
        data = event.get("data") if isinstance(event.get("data"), dict) else {}
        return f"lane:{data.get('project')}/{parts[3]}/{data.get('service')}"
    return str(event.get("shkeptncontext") or event["id"])


class DurableConsumer:
    def __init__(
        self,
        js: JetStreamContext,
        *,
        stream: str,
        durable: str,
        handler: EventHandler,
        batch: int = 50,
        fetch_timeout_s: float = 1.0,
        retry_delay_s: float = 2.0,
    ) -> None:
        self._js = js
        self._stream = stream
        self._durable = durable
        self._handler = handler
        self._batch = batch
        self._fetch_timeout_s = fetch_timeout_s
        self._retry_delay_s = retry_delay_s
        self.handled = 0

    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and handle until `stop` is set; the batch in hand is always finished first."""
        sub = await self._bind(stop)
        if sub is None:
            return
        try:
            while not stop.is_set():
                try:
                    msgs = await sub.fetch(self._batch, timeout=self._fetch_timeout_s)
                except TimeoutError:  # nats-py raises both its own and asyncio's TimeoutError here
                    continue
                except (nats.errors.ConnectionReconnectingError, nats.errors.ConnectionClosedError) as exc:
                    log.warning("consumer %s: %r; retrying", self._durable, exc)
                    await asyncio.sleep(self._retry_delay_s)
                    continue
                await self._handle_batch(msgs)
        finally:
            # Unsubscribing before the connection drains avoids nats-py's drain hang after a timed-out
            # fetch (notes/nats-and-rollouts.md §2.1 row 16).
            await sub.unsubscribe()

    async def _bind(self, stop: asyncio.Event) -> Any:
        """Bind only: the consumer's configuration belongs to `keptn-temporal migrate` (eventbus/stream.py).
        Until migrate has created it (first start, or a new NATS), wait instead of crash-looping."""
        while not stop.is_set():
            try:
                await self._js.consumer_info(self._stream, self._durable)
                return await self._js.pull_subscribe_bind(durable=self._durable, stream=self._stream)
            except (
                nats.js.errors.NotFoundError,
                TimeoutError,
                nats.errors.NoRespondersError,
            ) as exc:
                log.warning(
                    "consumer %s on stream %s not available (%r); run `keptn-temporal migrate`",
                    self._durable,
                    self._stream,
                    exc,
                )
            try:
                await asyncio.wait_for(stop.wait(), self._retry_delay_s * 2)
            except TimeoutError:
                pass
        return None

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        """Events of different keptnContexts are handled concurrently — one slow context, or a burst of
        sequence triggers, must not hold back the answers of running tasks — while the events of one context
        (and the sequence triggers of one service, see `ordering_key`) keep their stream order."""
        by_context: dict[str, list[tuple[Msg, dict[str, Any] | PoisonMessage]]] = {}
        for msg in msgs:
            try:
                event: dict[str, Any] | PoisonMessage = decode_event(msg.data)
            except PoisonMessage as exc:
                event = exc
            key = "" if isinstance(event, PoisonMessage) else ordering_key(event)
            by_context.setdefault(key, []).append((msg, event))

        async def in_order(group: list[tuple[Msg, dict[str, Any] | PoisonMessage]]) -> None:
            for msg, event in group:
                await self._handle(msg, event)

        await asyncio.gather(*(in_order(group) for group in by_context.values()))

    async def _handle(self, msg: Msg, event: dict[str, Any] | PoisonMessage) -> None:
        if isinstance(event, PoisonMessage):
            log.error("consumer %s: dropping stream message %s: %s", self._durable, _seq(msg), event)
            await msg.term()
            return
        try:
            await self._handler(event)
        except Exception:
            log.exception(
                "consumer %s: event %s (%s) failed; will retry", self._durable, event["id"], event["type"]
            )
            await msg.nak(delay=self._retry_delay_s)
            return
        await msg.ack()
        self.handled += 1


def _seq(msg: Msg) -> str:
    try:
        return str(msg.metadata.sequence.stream)
    except Exception:  # metadata is only there for JetStream messages
        return "?"
