"""Keptn's zero-downtime API probes (BEHAVIOR.md f.3, `test/zero-downtime/API_test.go`): seven calls, each
checked on status and body as Keptn's suite did, never retried."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from deploy.drill.gateway import Check, Gateway, json_is, status_is

# Keptn's suite asked for a window in 2022 in which no statistics exist.
STATISTICS_WINDOW = {"from": "1648190000", "to": "1648195292"}


@dataclass(frozen=True)
class Probe:
    name: str
    method: str
    path: str
    check: Check
    params: dict[str, str] = field(default_factory=dict)


def keptn_probes(integration: str) -> list[Probe]:
    """`integration` is the name of an integration registered before the probes start (Keptn probed
    lighthouse-service): its registration must survive every restart."""

    def message_is(text: str) -> Any:
        return lambda body: body["message"] == text

    return [
        Probe("auth", "POST", "/api/v1/auth", status_is(200)),
        Probe("metadata", "GET", "/api/v1/metadata", status_is(200)),
        Probe(
            "statistics",
            "GET",
            "/api/statistics/v1/statistics",
            json_is(
                404,
                message_is("no statistics found for selected time frame"),
                'message "no statistics found for selected time frame"',
            ),
            STATISTICS_WINDOW,
        ),
        Probe(
            "secret-scopes",
            "GET",
            "/api/secrets/v1/scope",
            json_is(200, lambda body: "keptn-default" in body["scopes"], 'scopes containing "keptn-default"'),
        ),
        Probe(
            "resource-unknown-project",
            "GET",
            "/api/resource-service/v1/project/unexisting-project/resource",
            json_is(
                404,
                message_is("Could not find credentials for upstream repository"),
                'message "Could not find credentials for upstream repository"',
            ),
        ),
        Probe(
            "uniform-registration",
            "GET",
            "/api/controlPlane/v1/uniform/registration",
            json_is(200, lambda body: body[0]["name"] == integration, f'[0].name == "{integration}"'),
            {"name": integration},
        ),
        Probe(
            "datastore-empty",
            "GET",
            "/api/mongodb-datastore/event",
            json_is(200, lambda body: body == {"events": [], "pageSize": 20}, '{"events":[],"pageSize":20}'),
            {"project": "some-random", "pageSize": "20"},
        ),
    ]


async def run_probes(gateway: Gateway, probes: list[Probe]) -> None:
    """One round, one call after the other as Keptn's suite ran them."""
    for probe in probes:
        await gateway.call(
            f"probe:{probe.name}", probe.method, probe.path, check=probe.check, params=probe.params
        )
