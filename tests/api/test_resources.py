"""Versioned resources through resource-service and configuration-service paths."""

from __future__ import annotations

import base64
from urllib.parse import quote

from tests.api.conftest import Api, b64
from tests.fixtures.databases import unique_name

RS = "/api/resource-service/v1"
CS = "/api/configuration-service/v1"
SLO_V1 = "spec_version: '1.0'\nobjectives:\n- sli: response_time_p95\n"
SLO_V2 = SLO_V1 + "- sli: error_rate\n"


async def project_with_service(api: Api) -> str:
    name = unique_name("res")
    await api.create_project(name)
    await api.create_service(name, "carts")
    return name


def content(body: dict) -> str:
    return base64.b64decode(body["resourceContent"]).decode()


async def test_stage_resource_roundtrip_by_both_paths_and_old_commit(api: Api) -> None:
    p = await project_with_service(api)
    base = f"/project/{p}/stage/dev/resource"
    r1 = await api.client.post(
        RS + base, json={"resources": [{"resourceURI": "slo.yaml", "resourceContent": b64(SLO_V1)}]}
    )
    assert r1.status_code == 201
    commit1 = r1.json()["commitID"]
    assert len(commit1) == 40
    r2 = await api.client.put(RS + base + "/slo.yaml", json={"resourceContent": b64(SLO_V2)})
    assert r2.status_code == 200
    commit2 = r2.json()["commitID"]
    assert commit2 != commit1

    for prefix in (RS, CS):
        latest = await api.client.get(prefix + base + "/slo.yaml")
        assert latest.status_code == 200, prefix
        assert content(latest.json()) == SLO_V2
        assert latest.json()["metadata"]["version"] == commit2
        old = await api.client.get(prefix + base + "/slo.yaml", params={"gitCommitID": commit1})
        assert content(old.json()) == SLO_V1
        assert old.json()["metadata"]["version"] == commit1


async def test_service_level_nested_uri_escaped_once_and_twice(api: Api) -> None:
    p = await project_with_service(api)
    base = f"/project/{p}/stage/staging/service/carts/resource"
    r = await api.client.post(
        RS + base, json={"resources": [{"resourceURI": "helm/values.yaml", "resourceContent": b64("a: 1")}]}
    )
    assert r.status_code == 201
    once = quote("helm/values.yaml", safe="")
    twice = quote(once, safe="")
    for uri in (once, twice):
        got = await api.client.get(f"{RS}{base}/{uri}")
        assert got.status_code == 200, uri
        assert got.json()["resourceURI"] == "helm/values.yaml"
        assert content(got.json()) == "a: 1"


async def test_project_level_list_paging_and_shipyard(api: Api) -> None:
    p = await project_with_service(api)
    files = [{"resourceURI": f"f{i}.txt", "resourceContent": b64(str(i))} for i in range(3)]
    assert (await api.client.post(f"{RS}/project/{p}/resource", json={"resources": files})).status_code == 201
    page = (await api.client.get(f"{RS}/project/{p}/resource", params={"pageSize": 2})).json()
    assert len(page["resources"]) == 2 and page["totalCount"] == 4  # 3 files + shipyard.yaml
    rest = (
        await api.client.get(
            f"{RS}/project/{p}/resource", params={"pageSize": 2, "nextPageKey": page["nextPageKey"]}
        )
    ).json()
    uris = {r["resourceURI"] for r in page["resources"] + rest["resources"]}
    assert uris == {"f0.txt", "f1.txt", "f2.txt", "shipyard.yaml"}


async def test_delete_resource_keeps_old_versions_readable(api: Api) -> None:
    p = await project_with_service(api)
    base = f"{RS}/project/{p}/stage/dev/resource"
    commit = (
        await api.client.post(
            base, json={"resources": [{"resourceURI": "x.yaml", "resourceContent": b64("x")}]}
        )
    ).json()["commitID"]
    assert (await api.client.delete(f"{base}/x.yaml")).status_code == 200
    assert (await api.client.get(f"{base}/x.yaml")).status_code == 404
    assert content((await api.client.get(f"{base}/x.yaml", params={"gitCommitID": commit})).json()) == "x"
    assert (await api.client.delete(f"{base}/x.yaml")).status_code == 404


async def test_invalid_base64_is_400_and_changes_nothing(api: Api) -> None:
    p = await project_with_service(api)
    base = f"{RS}/project/{p}/stage/dev/resource"
    await api.client.post(
        base, json={"resources": [{"resourceURI": "slo.yaml", "resourceContent": b64(SLO_V1)}]}
    )
    bad = await api.client.post(
        base,
        json={
            "resources": [
                {"resourceURI": "ok.yaml", "resourceContent": b64("fine")},
                {"resourceURI": "slo.yaml", "resourceContent": "***not base64***"},
            ]
        },
    )
    assert bad.status_code == 400 and bad.json()["code"] == 400
    put = await api.client.put(f"{base}/slo.yaml", json={"resourceContent": "!!"})
    assert put.status_code == 400
    assert content((await api.client.get(f"{base}/slo.yaml")).json()) == SLO_V1
    assert (await api.client.get(f"{base}/ok.yaml")).status_code == 404


async def test_unknown_entities(api: Api) -> None:
    p = await project_with_service(api)
    r = await api.client.get(f"{RS}/project/unexisting-project/resource")
    assert (r.status_code, r.json()["message"]) == (404, "Could not find credentials for upstream repository")
    for path in [
        f"/project/{p}/stage/nostage/resource",
        f"/project/{p}/stage/dev/service/nosvc/resource",
        f"/project/{p}/stage/dev/resource/missing.yaml",
    ]:
        for prefix in (RS, CS):
            got = await api.client.get(prefix + path)
            assert got.status_code == 404, prefix + path
            assert set(got.json()) == {"code", "message"}
    unknown_commit = await api.client.get(
        f"{RS}/project/{p}/resource/shipyard.yaml", params={"gitCommitID": "f" * 40}
    )
    assert unknown_commit.status_code == 404
