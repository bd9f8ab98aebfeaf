"""secret-service and statistics-service answers."""

from __future__ import annotations

from tests.api.conftest import Api
from tests.fixtures.databases import unique_name

SEC = "/api/secrets/v1"


async def test_zero_downtime_probes(api: Api) -> None:
    r = await api.client.get("/api/statistics/v1/statistics", params={"from": 1648190000, "to": 1648195292})
    assert (r.status_code, r.json()["message"]) == (404, "no statistics found for selected time frame")
    scopes = (await api.client.get(f"{SEC}/scope")).json()["scopes"]
    assert scopes == [
        "dynatrace-service",
        "keptn-default",
        "keptn-prometheus-service",
        "keptn-webhook-service",
    ]


async def test_statistics_count_events(api: Api) -> None:
    project = unique_name("stats")
    r = await api.client.post(
        "/api/v1/event",
        json={
            "type": "sh.keptn.event.dev.delivery.triggered",
            "source": "t",
            "data": {"project": project, "stage": "dev", "service": "carts"},
        },
    )
    assert r.status_code == 200
    stats = (
        await api.client.get("/api/statistics/v1/statistics", params={"from": 0, "to": 4102444800})
    ).json()
    mine = next(p for p in stats["projects"] if p["name"] == project)
    assert mine["services"][0]["name"] == "carts"
    assert mine["services"][0]["events"] == [{"type": "sh.keptn.event.dev.delivery.triggered", "count": 1}]
    bad = await api.client.get("/api/statistics/v1/statistics", params={"from": "x"})
    assert (bad.status_code, bad.json()["message"]) == (400, "Invalid request format")
    backwards = await api.client.get("/api/statistics/v1/statistics", params={"from": 10, "to": 5})
    assert backwards.status_code == 400


async def test_secret_lifecycle_never_returns_values(api: Api) -> None:
    name = unique_name("sec")
    body = {"name": name, "scope": "keptn-webhook-service", "data": {"token": "s3cr3t"}}
    assert (await api.client.post(f"{SEC}/secret", json=body)).status_code == 201
    dup = await api.client.post(f"{SEC}/secret", json=body)
    assert dup.json() == {"code": 409, "message": "Unable to create secret: secret already exists"}
    listed = (await api.client.get(f"{SEC}/secret")).json()["Secrets"]
    mine = next(s for s in listed if s["name"] == name)
    assert mine == {"name": name, "scope": "keptn-webhook-service", "keys": ["token"]}
    assert "s3cr3t" not in str(listed)
    assert (
        await api.client.put(f"{SEC}/secret", json=body | {"data": {"a": "1", "b": "2"}})
    ).status_code == 200
    listed = (await api.client.get(f"{SEC}/secret")).json()["Secrets"]
    assert next(s for s in listed if s["name"] == name)["keys"] == ["a", "b"]
    assert (
        await api.client.delete(f"{SEC}/secret", params={"name": name, "scope": "keptn-webhook-service"})
    ).status_code == 200
    assert (
        await api.client.delete(f"{SEC}/secret", params={"name": name, "scope": "keptn-webhook-service"})
    ).status_code == 404


async def test_bad_secrets(api: Api) -> None:
    for body in [
        {"name": "Bad_Name", "data": {}},
        {"data": {}},
        {"name": "ok-name", "scope": "nope", "data": {}},
        {"name": "ok-name", "data": {"k": 1}},
    ]:
        r = await api.client.post(f"{SEC}/secret", json=body)
        assert r.status_code == 400, body
        assert set(r.json()) == {"code", "message"}
