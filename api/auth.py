"""x-token authentication.

Keptn checked the token with plain string equality; we compare in constant time so the token cannot be guessed
byte by byte from response timings. Failed attempts are throttled per client like Keptn's api-service
(1 per second, burst 2); a valid token is never throttled.
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass, field

from fastapi import Request

from api.errors import KeptnHTTPError

# api-service answers with go-swagger's texts; the gateway's auth_request answers for every other service.
API_SERVICE_WRONG_TOKEN = "incorrect api key auth"
API_SERVICE_NO_TOKEN = "unauthenticated for invalid credentials"
GATEWAY_UNAUTHORIZED = "unauthenticated or invalid credentials"


def token_matches(presented: str | None, expected: str) -> bool:
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode(), expected.encode())


def client_ip(request: Request) -> str:
    forwarded = request.headers.get("x-forwarded-for")
    if forwarded:
        return forwarded.split(",")[0].strip()
    real = request.headers.get("x-real-ip")
    if real:
        return real.strip()
    return request.client.host if request.client else "unknown"


@dataclass
class FailedAuthLimiter:
    """Token bucket per client IP, spent only by failed attempts (local to a replica on purpose: it is a brake,
    not an account lock, so no replica needs another's counts)."""

    rate_per_s: float = 1.0
    burst: float = 2.0
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def allow(self, ip: str) -> bool:
        now = time.monotonic()
        tokens, last = self._buckets.get(ip, (self.burst, now))
        tokens = min(self.burst, tokens + (now - last) * self.rate_per_s)
        if tokens < 1:
            self._buckets[ip] = (tokens, now)
            return False
        self._buckets[ip] = (tokens - 1, now)
        if len(self._buckets) > 10_000:  # bound memory under a spray of source addresses
            self._buckets.clear()
        return True

    def reset(self, ip: str) -> None:
        self._buckets.pop(ip, None)


def _throttled_check(request: Request, message: str) -> None:
    """The check behind `POST /api/v1/auth`, which Keptn's gateway also ran for every non-/api/v1 request."""
    limiter: FailedAuthLimiter = request.app.state.auth_limiter
    ip = client_ip(request)
    # Unlike Keptn (bucket first), a valid token always passes: only guessing is slowed down.
    if token_matches(request.headers.get("x-token"), request.app.state.cp.settings.api_token):
        limiter.reset(ip)
        return
    if not limiter.allow(ip):
        raise KeptnHTTPError(429, "too many requests")
    raise KeptnHTTPError(401, message)


async def api_service_auth(request: Request) -> None:
    """api-service's own check (metadata, event): no throttling, two texts."""
    token = request.headers.get("x-token")
    if not token:
        raise KeptnHTTPError(401, API_SERVICE_NO_TOKEN)
    if not token_matches(token, request.app.state.cp.settings.api_token):
        raise KeptnHTTPError(401, API_SERVICE_WRONG_TOKEN)


async def auth_endpoint_auth(request: Request) -> None:
    _throttled_check(request, API_SERVICE_WRONG_TOKEN)


async def gateway_auth(request: Request) -> None:
    _throttled_check(request, GATEWAY_UNAUTHORIZED)
