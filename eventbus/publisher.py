"""Publish CloudEvents to JetStream and wait until they are stored."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import nats.errors
from nats.js import JetStreamContext
from nats.js.errors import APIError, NoStreamResponseError, ServiceUnavailableError

log = logging.getLogger(__name__)

MSG_ID_HEADER = "Nats-Msg-Id"

_TRANSIENT = (
    nats.errors.TimeoutError,
    NoStreamResponseError,  # no responders: stream leader not (yet) there
    ServiceUnavailableError,  # 503: JetStream temporarily unavailable
    nats.errors.ConnectionReconnectingError,
)


class PublishError(RuntimeError):
    """The event could not be stored; the caller must not report success (the client may retry)."""


class EventPublisher:
    def __init__(
        self,
        js: JetStreamContext,
        stream_name: str,
        *,
        timeout_s: float = 5.0,
        attempts: int = 3,
        backoff_s: float = 0.25,
    ) -> None:
        self._js = js
        self._stream = stream_name
        self._timeout_s = timeout_s
        self._attempts = attempts
        self._backoff_s = backoff_s

    async def publish(self, event: dict[str, Any]) -> int:
        """Store `event` (a CloudEvent as wire JSON) on the stream and return its stream sequence.

        The PubAck is awaited, unlike Keptn's fire-and-forget core publish: a 2xx from the API then means
        the event is persisted. The CloudEvent id is the Nats-Msg-Id, so every retry — ours below, or the
        client's after a lost response — is de-duplicated by JetStream and returns the original sequence.
        """
        subject = event["type"]
        msg_id = event["id"]
        body = json.dumps(event, separators=(",", ":")).encode()
        last_error: Exception | None = None
        for attempt in range(1, self._attempts + 1):
            # A fresh headers dict per attempt: nats-py adds Nats-Expected-Stream to the dict it is given.
            headers = {MSG_ID_HEADER: msg_id}
            try:
                # `stream=` makes the server reject the message unless our stream captured it, so an
                # event can never land silently in some other stream that happens to match the subject.
                ack = await self._js.publish(
                    subject, body, timeout=self._timeout_s, stream=self._stream, headers=headers
                )
            except _TRANSIENT as exc:
                # Transient: a NATS restart, reconnect or JetStream leader change. Same msg id, so a
                # publish that did land before its ack got lost is not stored twice.
                last_error = exc
                log.warning("publish %s (%s) attempt %d failed: %r", msg_id, subject, attempt, exc)
                if attempt < self._attempts:
                    await asyncio.sleep(self._backoff_s * attempt)
                continue
            except APIError as exc:
                # The server refused the message (wrong stream, too large, ...): retrying cannot help.
                raise PublishError(f"event {msg_id} ({subject}) rejected by JetStream: {exc}") from exc
            except nats.errors.Error as exc:
                raise PublishError(f"event {msg_id} ({subject}) not published: {exc!r}") from exc
            if ack.duplicate:
                log.info("event %s already stored at seq %d (duplicate publish)", msg_id, ack.seq)
            return ack.seq
        raise PublishError(
            f"event {msg_id} ({subject}) not stored after {self._attempts} attempts: {last_error!r}"
        ) from last_error
