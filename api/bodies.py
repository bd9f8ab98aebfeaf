"""Request bodies, rejected the way the Keptn service behind each path rejected them.

Keptn had two families: go-swagger services (api-service) and gin services (shipyard-controller,
resource-service, secret-service). Their texts differ, and clients and tests match on them.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from api.errors import KeptnHTTPError

JSON_CONTENT_TYPES = ("application/json", "application/cloudevents+json")


async def read_capped(request: Request, max_bytes: int | None) -> bytes | None:
    """The raw body, or None when it is larger than `max_bytes` (read no further than that)."""
    if max_bytes is None:
        return await request.body()
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _swagger_parse_error(reason: str) -> KeptnHTTPError:
    return KeptnHTTPError(400, f'parsing body body from "" failed, because {reason}')


async def read_swagger_object(
    request: Request, *, max_bytes: int, required: tuple[str, ...]
) -> dict[str, Any]:
    """api-service: 415 for other media types, 400 parse errors, 422 (code 602) for missing required fields."""
    raw = await read_capped(request, max_bytes)
    if raw is None:
        raise _swagger_parse_error("http: request body too large")
    if raw:
        media = request.headers.get("content-type", "application/octet-stream").split(";")[0].strip().lower()
        if media not in JSON_CONTENT_TYPES:
            raise KeptnHTTPError(
                415,
                f'unsupported media type "{media}", only [application/json application/cloudevents+json] are allowed',
            )
    body: Any = {}
    if raw.strip():
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError) as exc:
            raise _swagger_parse_error(f"invalid JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise _swagger_parse_error(f"json: cannot unmarshal {type(body).__name__} into an event object")
    for name in required:
        if body.get(name) is None:
            raise KeptnHTTPError(422, f"{name} in body is required", code=602)
    return body


async def read_gin_object(request: Request, allowed: set[str] | None = None) -> dict[str, Any]:
    """gin services: every unreadable body is `400 Invalid request format: <reason>`."""
    raw = await request.body()
    if not raw.strip():
        raise KeptnHTTPError(400, "Invalid request format: EOF")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise KeptnHTTPError(400, f"Invalid request format: {exc}") from exc
    if not isinstance(body, dict):
        raise KeptnHTTPError(400, "Invalid request format: body must be a JSON object")
    if allowed is not None:
        unknown = sorted(set(body) - allowed)
        if unknown:
            raise KeptnHTTPError(400, f'Invalid request format: json: unknown field "{unknown[0]}"')
    return body
