"""Projects, stages and services under /api/controlPlane/v1."""

from __future__ import annotations

from tests.api.conftest import Api, b64, shipyard_b64
from tests.fixtures.databases import unique_name

CP = "/api/controlPlane/v1"


async def test_create_project_from_onboarding_carts(api: Api) -> None:
    name = unique_name("sockshop")
    r = await api.create_project(name)
    assert (r.status_code, r.content) == (201, b"")
    project = (await api.client.get(f"{CP}/project/{name}")).json()
    assert project["projectName"] == name
    assert [s["stageName"] for s in project["stages"]] == ["dev", "staging", "production"]
    assert project["shipyardVersion"].startswith("spec.keptn.sh/0.2")
    assert "Shipyard" in project["shipyard"]
    staging = next(s for s in project["stages"] if s["stageName"] == "staging")
    assert staging["parentStages"] == ["dev"]


async def test_project_creation_announces_started_and_finished(api: Api) -> None:
    name = unique_name("events")
    await api.create_project(name)
    r = await api.client.get("/api/mongodb-datastore/event", params={"project": name})
    types = [e["type"] for e in r.json()["events"]]
    assert sorted(types) == [
        "sh.keptn.event.project.create.finished",
        "sh.keptn.event.project.create.started",
    ]
    finished = next(e for e in r.json()["events"] if e["type"].endswith("finished"))
    assert finished["data"]["result"] == "pass"


async def test_flat_pre_017_body_is_accepted(api: Api) -> None:
    name = unique_name("flat")
    body = {
        "name": name,
        "shipyard": shipyard_b64(),
        "gitRemoteURL": "https://git.example/x.git",
        "gitUser": "u",
        "gitToken": "secret-token",
    }
    r = await api.client.post(f"{CP}/project", json=body)
    assert r.status_code == 201
    project = (await api.client.get(f"{CP}/project/{name}")).json()
    assert project["gitCredentials"]["remoteURL"] == "https://git.example/x.git"
    assert "secret-token" not in str(project)


async def test_nested_git_credentials_are_kept_without_secrets(api: Api) -> None:
    name = unique_name("nested")
    body = {
        "name": name,
        "shipyard": shipyard_b64(),
        "gitCredentials": {
            "remoteURL": "https://git.example/y.git",
            "user": "me",
            "https": {"token": "tok-123"},
        },
    }
    assert (await api.client.post(f"{CP}/project", json=body)).status_code == 201
    project = (await api.client.get(f"{CP}/project/{name}")).json()
    assert project["gitCredentials"]["user"] == "me"
    assert "tok-123" not in str(project)


async def test_duplicate_project_is_409_and_keeps_the_first(api: Api) -> None:
    name = unique_name("dup")
    await api.create_project(name)
    before = (await api.client.get(f"{CP}/project/{name}")).json()
    r = await api.create_project(name, shipyard_b64("quickstart-demo.shipyard.yaml"))
    assert (r.status_code, r.json()) == (
        409,
        {"code": 409, "message": f"could not create project '{name}': project already exists"},
    )
    assert (await api.client.get(f"{CP}/project/{name}")).json() == before


async def test_invalid_shipyards_are_400_and_store_nothing(api: Api) -> None:
    cases = {
        "not base64": "%%%not-base64%%%",
        "not yaml": b64("apiVersion: [unclosed"),
        "wrong version": b64(
            "apiVersion: spec.keptn.sh/0.1.0\nkind: Shipyard\nspec:\n  stages:\n  - name: dev\n"
        ),
        "no stages": b64("apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\nspec:\n  stages: []\n"),
        "bad stage name": b64(
            "apiVersion: spec.keptn.sh/0.2.0\nkind: Shipyard\nspec:\n  stages:\n  - name: Dev_1\n"
        ),
    }
    for label, shipyard in cases.items():
        name = unique_name("bad")
        r = await api.create_project(name, shipyard)
        assert r.status_code == 400, label
        assert r.json()["code"] == 400 and r.json()["message"], label
        assert (await api.client.get(f"{CP}/project/{name}")).status_code == 404, label


async def test_invalid_project_names(api: Api) -> None:
    cases = {
        "Upper": "provided project name is not a valid Keptn entity name",
        "under_score": "provided project name is not a valid Keptn entity name",
        "-dash": "provided project name is not a valid Keptn entity name",
        "a" * 201: "project name exceeds maximum size of 200 characters",
        "": "project name missing",
    }
    for name, message in cases.items():
        r = await api.create_project(name)
        assert (r.status_code, r.json()) == (
            400,
            {"code": 400, "message": "Could not validate payload: " + message},
        )


async def test_malformed_json_body(api: Api) -> None:
    r = await api.client.post(
        f"{CP}/project", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert r.status_code == 400
    assert r.json()["code"] == 400


async def test_unknown_project_stage_service(api: Api) -> None:
    name = unique_name("known")
    await api.create_project(name)
    for path in [
        f"{CP}/project/{unique_name('nope')}",
        f"{CP}/project/{name}/stage/nostage",
        f"{CP}/project/{name}/stage/dev/service/nosvc",
    ]:
        r = await api.client.get(path)
        assert r.status_code == 404, path
        assert r.json()["code"] == 404 and r.json()["message"]


async def test_service_is_created_in_every_stage(api: Api) -> None:
    name = unique_name("svc")
    await api.create_project(name)
    r = await api.create_service(name, "carts")
    assert (r.status_code, r.json()) == (200, {"message": ""})
    for stage in ["dev", "staging", "production"]:
        svc = (await api.client.get(f"{CP}/project/{name}/stage/{stage}/service/carts")).json()
        assert svc["serviceName"] == "carts"
    services = (await api.client.get(f"{CP}/project/{name}/stage/dev/service")).json()
    assert [s["serviceName"] for s in services["services"]] == ["carts"]


async def test_service_errors(api: Api) -> None:
    name = unique_name("svcerr")
    await api.create_project(name)
    await api.create_service(name, "carts")
    dup = await api.create_service(name, "carts")
    assert (dup.status_code, dup.json()) == (409, {"code": 409, "message": "service already exists"})
    ghost = await api.create_service(unique_name("ghost"), "carts")
    assert (ghost.status_code, ghost.json()) == (404, {"code": 404, "message": "project not found"})
    for bad in ["a" * 44, "", "a/b", "..", "a|b"]:
        r = await api.create_service(name, bad)
        assert r.status_code == 400, bad
        assert r.json()["code"] == 400
    services = (await api.client.get(f"{CP}/project/{name}/stage/dev/service")).json()["services"]
    assert [s["serviceName"] for s in services] == ["carts"]


async def test_delete_service_and_project(api: Api) -> None:
    name = unique_name("del")
    await api.create_project(name)
    await api.create_service(name, "carts")
    assert (await api.client.delete(f"{CP}/project/{name}/service/carts")).json() == {"message": ""}
    assert (await api.client.get(f"{CP}/project/{name}/stage/dev/service/carts")).status_code == 404
    assert (await api.client.delete(f"{CP}/project/{name}")).status_code == 200
    assert (await api.client.get(f"{CP}/project/{name}")).status_code == 404
    assert (await api.client.delete(f"{CP}/project/{name}")).status_code == 404


async def test_project_list_paging(api: Api) -> None:
    for _ in range(3):
        await api.create_project(unique_name("page"))
    first = (await api.client.get(f"{CP}/project", params={"pageSize": 2})).json()
    assert len(first["projects"]) == 2
    assert first["totalCount"] >= 3
    second = (
        await api.client.get(f"{CP}/project", params={"pageSize": 2, "nextPageKey": first["nextPageKey"]})
    ).json()
    assert {p["projectName"] for p in first["projects"]}.isdisjoint(
        {p["projectName"] for p in second["projects"]}
    )
    assert (await api.client.get(f"{CP}/project", params={"pageSize": "x"})).status_code == 400
    assert second["nextPageKey"] == "0" or int(second["nextPageKey"]) > int(first["nextPageKey"])
