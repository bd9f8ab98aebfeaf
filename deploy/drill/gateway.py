"""The drill's HTTP client of Keptn's API: every call is timed, checked (status and body) and recorded.

A call that times out, cannot connect, or gets an unexpected status or body is a failed request, whatever
the reason; the drill's goal is zero of them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Protocol

import httpx

# A check returns None when the response is what Keptn's contract promises, else what was wrong.
Check = Callable[[httpx.Response], str | None]


def status_is(*codes: int) -> Check:
    def check(r: httpx.Response) -> str | None:
        return None if r.status_code in codes else f"status {r.status_code}, expected {codes}"

    return check


def json_is(code: int, predicate: Callable[[Any], bool], expected: str) -> Check:
    """Status `code` and a JSON body for which `predicate` holds (`expected` describes it for the report)."""

    def check(r: httpx.Response) -> str | None:
        if r.status_code != code:
            return f"status {r.status_code}, expected {code}"
        try:
            body = r.json()
        except ValueError:
            return f"body is not JSON, expected {expected}"
        try:
            return None if predicate(body) else f"body differs, expected {expected}"
        except (KeyError, IndexError, TypeError):
            return f"body has another shape, expected {expected}"

    return check


class RequestSink(Protocol):
    """Where outcomes go: the workload's Recorder, or an executor's journal."""

    def add(self, kind: str, t: float, latency_s: float, error: str | None) -> None: ...

    def retry(self, kind: str) -> None: ...


class RequestFailed(RuntimeError):
    """A call that must succeed (setup, verification) did not."""


class Gateway:
    def __init__(self, base_url: str, token: str, sink: RequestSink, *, timeout_s: float = 5.0) -> None:
        self.sink = sink
        self.http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"), headers={"x-token": token}, timeout=timeout_s
        )

    async def close(self) -> None:
        await self.http.aclose()

    async def _attempt(
        self, kind: str, method: str, path: str, check: Check, kwargs: dict[str, Any]
    ) -> tuple[httpx.Response | None, str | None]:
        wall, started = time.time(), time.monotonic()
        try:
            r = await self.http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            error = f"{method} {path}: {type(exc).__name__}: {exc}"[:300]
            self.sink.add(kind, wall, time.monotonic() - started, error)
            return None, error
        error = check(r)
        if error is not None:
            error = f"{method} {r.url.path}: {error}: {r.text[:200]}"
        self.sink.add(kind, wall, time.monotonic() - started, error)
        return (r, None) if error is None else (None, error)

    async def call(
        self, kind: str, method: str, path: str, *, check: Check = status_is(200), **kwargs: Any
    ) -> httpx.Response | None:
        """One attempt, recorded; the response if it passed its check, else None."""
        return (await self._attempt(kind, method, path, check, kwargs))[0]

    async def require(
        self, kind: str, method: str, path: str, *, check: Check = status_is(200), **kwargs: Any
    ) -> httpx.Response:
        r, error = await self._attempt(kind, method, path, check, kwargs)
        if r is None:
            raise RequestFailed(f"{kind}: {error}")
        return r

    async def call_until_ok(
        self,
        kind: str,
        method: str,
        path: str,
        *,
        check: Check = status_is(200),
        give_up_after_s: float = 60.0,
        **kwargs: Any,
    ) -> httpx.Response | None:
        """For idempotent calls only (e.g. an event POSTed again with the same CloudEvent id): every failed
        attempt is still a failed request; retries are counted separately."""
        deadline = time.monotonic() + give_up_after_s
        pause = 0.5
        while True:
            r = await self.call(kind, method, path, check=check, **kwargs)
            if r is not None or time.monotonic() + pause > deadline:
                return r
            self.sink.retry(kind)
            await asyncio.sleep(pause)
            pause = min(pause * 2, 4.0)

    async def json_pages(self, kind: str, path: str, key: str, params: dict[str, str]) -> list[Any]:
        """All items of a paged Keptn list (`nextPageKey` until absent or "0"). A failed read is retried (and
        still counted as failed); RequestFailed if it keeps failing."""
        items: list[Any] = []
        page_key = ""
        while True:
            query = {**params, **({"nextPageKey": page_key} if page_key else {})}
            r = await self.call_until_ok(kind, "GET", path, params=query, give_up_after_s=30)
            if r is None:
                raise RequestFailed(f"{kind}: GET {path} kept failing")
            body = r.json()
            items.extend(body.get(key) or [])
            page_key = body.get("nextPageKey") or ""
            if page_key in ("", "0"):
                return items
