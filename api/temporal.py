"""The API's Temporal client, connected on first use.

Only a few routes need Temporal (sequence control); the rest of the API must stay available while Temporal
is restarted or upgraded, so neither start-up nor readiness waits for it.
"""

from __future__ import annotations

import asyncio

from temporalio.client import Client

from api.errors import KeptnHTTPError
from keptn_temporal.settings import Settings
from keptn_temporal.temporal_client import connect_client

CONNECT_TIMEOUT_S = 5.0


class LazyTemporalClient:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: Client | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Client:
        if self._client is not None:
            return self._client
        async with self._lock:
            if self._client is None:
                try:
                    self._client = await asyncio.wait_for(
                        connect_client(self._settings, identity="keptn-api"), CONNECT_TIMEOUT_S
                    )
                except (TimeoutError, RuntimeError) as exc:
                    raise KeptnHTTPError(503, f"workflow engine unavailable: {exc}") from exc
        return self._client
