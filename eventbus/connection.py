"""One way to open a NATS connection, so every process behaves the same during NATS restarts."""

from __future__ import annotations

import logging

from nats.aio.client import Client

log = logging.getLogger(__name__)

# Reconnect forever: a NATS restart or rolling upgrade must look like a short stall to the API and the
# worker, never like a dead process that Kubernetes then restarts as well.
MAX_RECONNECT_ATTEMPTS = -1
RECONNECT_TIME_WAIT_S = 1.0
# drain() can hang for the whole drain_timeout after a pull fetch() timed out (notes/nats-and-rollouts.md
# §2.1 row 16); keep it well below any pod termination grace period.
DRAIN_TIMEOUT_S = 10.0
CONNECT_TIMEOUT_S = 5.0


async def connect(url: str, name: str, *, allow_reconnect: bool = True) -> Client:
    """Connect to NATS at `url`; `name` shows up in the server's connection list (use the process role).

    `allow_reconnect=False` is for probes and one-shot jobs (migrate) that want a quick error instead of
    waiting for a server; their failures are the caller's to report, so they log nothing here.
    """
    nc = Client()

    async def on_error(exc: Exception) -> None:
        log.warning("nats %s: %s", name, exc)

    async def on_disconnected() -> None:
        if not nc.is_closed:  # our own close() also reports a disconnect
            log.warning("nats %s: disconnected from %s, reconnecting", name, url)

    async def on_reconnected() -> None:
        log.info("nats %s: reconnected to %s", name, nc.connected_url.netloc if nc.connected_url else url)

    async def quiet(exc: Exception) -> None:
        log.debug("nats %s: %s", name, exc)

    callbacks = (
        {"error_cb": on_error, "disconnected_cb": on_disconnected, "reconnected_cb": on_reconnected}
        if allow_reconnect
        # nats-py's default error_cb logs a full traceback at ERROR for every refused connect.
        else {"error_cb": quiet}
    )
    await nc.connect(
        servers=[url],
        name=name,
        allow_reconnect=allow_reconnect,
        # nats-py applies the attempt limit to the first connect too (and treats 0 as unlimited): -1 makes
        # a service wait for NATS at startup, 1 gives a probe one quick retry and then NoServersError.
        max_reconnect_attempts=MAX_RECONNECT_ATTEMPTS if allow_reconnect else 1,
        reconnect_time_wait=RECONNECT_TIME_WAIT_S if allow_reconnect else 0.1,
        connect_timeout=CONNECT_TIMEOUT_S,
        drain_timeout=DRAIN_TIMEOUT_S,
        **callbacks,
    )
    return nc
