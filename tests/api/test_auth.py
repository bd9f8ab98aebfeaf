"""x-token authentication, as Keptn's api-service and gateway answer it."""

from __future__ import annotations

import uuid

import pytest

from tests.api.conftest import Api

PROTECTED = [
    ("GET", "/api/v1/metadata", "incorrect api key auth"),
    ("POST", "/api/v1/event", "incorrect api key auth"),
    ("GET", "/api/controlPlane/v1/project", "unauthenticated or invalid credentials"),
    ("GET", "/api/resource-service/v1/project/p/resource", "unauthenticated or invalid credentials"),
    ("GET", "/api/configuration-service/v1/project/p/resource", "unauthenticated or invalid credentials"),
    ("GET", "/api/mongodb-datastore/event?project=p", "unauthenticated or invalid credentials"),
    ("GET", "/api/statistics/v1/statistics?from=1&to=2", "unauthenticated or invalid credentials"),
    ("GET", "/api/secrets/v1/scope", "unauthenticated or invalid credentials"),
]


def fresh_ip() -> dict[str, str]:
    # Failed attempts are throttled per client address; each case gets its own.
    return {
        "x-forwarded-for": f"10.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"
    }


@pytest.mark.parametrize(("method", "path", "message"), PROTECTED)
async def test_wrong_token_is_rejected_with_keptns_body(
    api: Api, method: str, path: str, message: str
) -> None:
    r = await api.client.request(method, path, headers={"x-token": "wrong", **fresh_ip()})
    assert r.status_code == 401
    assert r.json() == {"code": 401, "message": message}


async def test_missing_token_is_rejected(api: Api) -> None:
    r = await api.client.get("/api/v1/metadata", headers={"x-token": "", **fresh_ip()})
    assert (r.status_code, r.json()) == (
        401,
        {"code": 401, "message": "unauthenticated for invalid credentials"},
    )
    r = await api.client.get("/api/controlPlane/v1/project", headers={"x-token": "", **fresh_ip()})
    assert (r.status_code, r.json()) == (
        401,
        {"code": 401, "message": "unauthenticated or invalid credentials"},
    )


async def test_auth_endpoint(api: Api) -> None:
    assert (await api.client.post("/api/v1/auth")).status_code == 200
    r = await api.client.post("/api/v1/auth", headers={"x-token": "nope", **fresh_ip()})
    assert (r.status_code, r.json()) == (401, {"code": 401, "message": "incorrect api key auth"})


async def test_failed_attempts_are_throttled_but_valid_tokens_never(api: Api) -> None:
    ip = fresh_ip()
    codes = [
        (await api.client.post("/api/v1/auth", headers={"x-token": "bad", **ip})).status_code
        for _ in range(4)
    ]
    assert codes[:2] == [401, 401]
    assert codes[-1] == 429
    r = await api.client.post("/api/v1/auth", headers={"x-token": "bad", **ip})
    assert r.json() == {"code": 429, "message": "too many requests"}
    assert (await api.client.post("/api/v1/auth", headers=ip)).status_code == 200


async def test_metadata(api: Api) -> None:
    r = await api.client.get("/api/v1/metadata")
    assert r.status_code == 200
    body = r.json()
    assert body == {
        "automaticprovisioning": True,
        "bridgeversion": "N/A",
        "keptnlabel": "keptn",
        "keptnversion": "1.4.5",
        "namespace": "keptn",
        "shipyardversion": "0.2.0",
    }


async def test_health_needs_no_token(api: Api) -> None:
    assert (await api.client.get("/healthz", headers={"x-token": ""})).status_code == 200
    r = await api.client.get("/readyz", headers={"x-token": ""})
    assert (r.status_code, r.json()) == (200, {"status": "OK"})


async def test_openapi_served(api: Api) -> None:
    r = await api.client.get("/api/openapi.json")
    assert r.status_code == 200
    assert "/api/v1/event" in r.json()["paths"]
