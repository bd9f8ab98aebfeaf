from __future__ import annotations

import asyncio
import re

import pytest
from sqlalchemy import select

from store.db import Database
from store.errors import AlreadyExistsError, NotFoundError
from store.projects import ProjectRepository
from store.records import GitSettings
from store.resources import ResourceRepository
from store.schema import Project
from tests.fixtures.databases import unique_name
from tests.store.conftest import STAGES, NewProject, shipyard_yaml

HEX40 = re.compile(r"^[0-9a-f]{40}$")


async def test_create_and_get_project(projects: ProjectRepository, resources: ResourceRepository) -> None:
    name = unique_name("proj")
    git = GitSettings(
        remote_url="https://git.example/r.git",
        user="me",
        proxy_url="p:3128",
        proxy_scheme="http",
        proxy_user="pu",
        insecure_skip_tls=True,
        secret={"token": "t0ken"},
    )
    commit = await projects.create_project(name, shipyard_yaml(STAGES), "spec.keptn.sh/0.2.2", STAGES, git)
    assert HEX40.match(commit)

    record = await projects.get_project(name)
    assert record.name == name
    assert record.shipyard == shipyard_yaml(STAGES)
    assert record.shipyard_version == "spec.keptn.sh/0.2.2"
    assert record.created_at.tzinfo is not None
    assert [s.name for s in record.stages] == STAGES
    assert record.git.remote_url == "https://git.example/r.git"
    assert record.git.insecure_skip_tls is True
    assert record.git.proxy_user == "pu"
    assert record.git.secret == {}  # write-only

    shipyard = await resources.get(name, None, None, "shipyard.yaml")
    assert shipyard.commit_id == commit
    assert await resources.latest_commit(name) == commit


async def test_git_secret_is_encrypted_at_rest(projects: ProjectRepository, database: Database) -> None:
    name = unique_name("proj")
    git = GitSettings(remote_url="https://x", secret={"token": "plain-git-token-123"})
    await projects.create_project(name, shipyard_yaml(STAGES), "v", STAGES, git)
    async with database.session() as s:
        blob = (await s.execute(select(Project.git_secret).where(Project.name == name))).scalar_one()
    assert blob and b"plain-git-token-123" not in blob


async def test_git_secret_without_key_is_not_stored(database: Database) -> None:
    repo = ProjectRepository(database)
    name = unique_name("proj")
    await repo.create_project(name, shipyard_yaml(STAGES), "v", STAGES, GitSettings(secret={"token": "t"}))
    async with database.session() as s:
        assert (await s.execute(select(Project.git_secret).where(Project.name == name))).scalar_one() is None


async def test_duplicate_project(projects: ProjectRepository, new_project: NewProject) -> None:
    name = await new_project()
    with pytest.raises(AlreadyExistsError) as err:
        await projects.create_project(name, shipyard_yaml(STAGES), "v", STAGES, GitSettings())
    assert err.value.entity == "project"


async def test_concurrent_create_of_one_project(projects: ProjectRepository) -> None:
    name = unique_name("proj")
    results = await asyncio.gather(
        *(projects.create_project(name, shipyard_yaml(STAGES), "v", STAGES, GitSettings()) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, str) for r in results) == 1
    assert all(isinstance(r, AlreadyExistsError) for r in results if not isinstance(r, str))


async def test_missing_entities(projects: ProjectRepository, new_project: NewProject) -> None:
    with pytest.raises(NotFoundError) as err:
        await projects.get_project(unique_name("nope"))
    assert err.value.entity == "project"
    name = await new_project(services=("svc",))
    with pytest.raises(NotFoundError) as err:
        await projects.get_stage(name, "nope")
    assert err.value.entity == "stage"
    with pytest.raises(NotFoundError) as err:
        await projects.get_service(name, "dev", "nope")
    assert err.value.entity == "service"
    with pytest.raises(NotFoundError) as err:
        await projects.get_service(name, "nope", "svc")
    assert err.value.entity == "stage"
    with pytest.raises(NotFoundError) as err:
        await projects.create_service(unique_name("nope"), "svc")
    assert err.value.entity == "project"
    with pytest.raises(NotFoundError):
        await projects.update_project(unique_name("nope"), None, None, None, None)
    with pytest.raises(NotFoundError):
        await projects.delete_project(unique_name("nope"))


async def test_list_projects_pages_in_name_order(
    projects: ProjectRepository, new_project: NewProject
) -> None:
    # Keptn pages projects by name, which also keeps pages stable while others are being created.
    mine = [await new_project() for _ in range(3)]
    first, total = await projects.list_projects(0, 1000)
    assert total >= 3 and len(first) == total
    names = [p.name for p in first]
    assert [n for n in names if n in mine] == sorted(mine)
    assert names == sorted(names)
    for p in first:
        if p.name in mine:
            assert p.shipyard == shipyard_yaml(STAGES) and [s.name for s in p.stages] == STAGES
    page, total2 = await projects.list_projects(1, 2)
    assert total2 == total and [p.name for p in page] == names[1:3]


async def test_create_service_in_every_stage(projects: ProjectRepository, new_project: NewProject) -> None:
    name = await new_project()
    await projects.create_service(name, "carts")
    await projects.create_service(name, "orders")
    record = await projects.get_project(name)
    for stage in record.stages:
        assert [s.name for s in stage.services] == ["carts", "orders"]
    svc = await projects.get_service(name, "prod", "carts")
    assert svc.name == "carts" and svc.deployed_image == "" and svc.last_event_types == {}
    assert svc.created_at.tzinfo is not None
    stage = await projects.get_stage(name, "staging")
    assert [s.name for s in stage.services] == ["carts", "orders"]


async def test_duplicate_service(projects: ProjectRepository, new_project: NewProject) -> None:
    name = await new_project(services=("carts",))
    with pytest.raises(AlreadyExistsError) as err:
        await projects.create_service(name, "carts")
    assert err.value.entity == "service"


async def test_concurrent_create_of_one_service(projects: ProjectRepository, new_project: NewProject) -> None:
    name = await new_project()
    results = await asyncio.gather(
        *(projects.create_service(name, "carts") for _ in range(5)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, AlreadyExistsError) for r in results if r is not None)
    assert all(len(s.services) == 1 for s in (await projects.get_project(name)).stages)


async def test_delete_service_removes_it_and_its_resources(
    projects: ProjectRepository, resources: ResourceRepository, new_project: NewProject
) -> None:
    name = await new_project(services=("carts", "orders"))
    await resources.write(name, "dev", "carts", [("helm/values.yaml", b"x")])
    await resources.write(name, "dev", "orders", [("helm/values.yaml", b"y")])
    await projects.delete_service(name, "carts")
    for stage in (await projects.get_project(name)).stages:
        assert [s.name for s in stage.services] == ["orders"]
    with pytest.raises(NotFoundError):
        await projects.delete_service(name, "carts")
    # Re-creating the service must not resurrect old resources.
    await projects.create_service(name, "carts")
    assert await resources.list(name, "dev", "carts") == ([], 0)
    assert (await resources.get(name, "dev", "orders", "helm/values.yaml")).content == b"y"


async def test_update_project(
    projects: ProjectRepository, resources: ResourceRepository, new_project: NewProject
) -> None:
    name = await new_project(services=("carts",))
    first = await resources.latest_commit(name)
    new_stages = [*STAGES, "canary"]
    commit = await projects.update_project(
        name,
        shipyard_yaml(new_stages),
        "spec.keptn.sh/0.2.3",
        new_stages,
        GitSettings(remote_url="https://new", user="u2"),
    )
    assert commit is not None and commit != first
    record = await projects.get_project(name)
    assert record.shipyard == shipyard_yaml(new_stages)
    assert record.shipyard_version == "spec.keptn.sh/0.2.3"
    assert [s.name for s in record.stages] == new_stages
    assert [s.name for s in record.stages[-1].services] == ["carts"]  # new stage gets existing services
    assert record.git.remote_url == "https://new"
    # The old shipyard stays readable at the first commit.
    old = await resources.get(name, None, None, "shipyard.yaml", first)
    assert old.content.decode() == shipyard_yaml(STAGES)
    # Same shipyard again: no new commit. Stages are never removed.
    assert await projects.update_project(name, shipyard_yaml(new_stages), None, STAGES, None) is None
    assert [s.name for s in (await projects.get_project(name)).stages] == new_stages
    assert await projects.update_project(name, None, None, None, GitSettings(user="u3")) is None
    assert (await projects.get_project(name)).git.user == "u3"


async def test_delete_project_cascades(
    projects: ProjectRepository, resources: ResourceRepository, new_project: NewProject
) -> None:
    name = await new_project(services=("carts",))
    commit = await resources.write(name, "dev", "carts", [("a.yaml", b"a")])
    await projects.record_service_event(
        name, "dev", "carts", "sh.keptn.event.dev.delivery.triggered", "e", "c", "1"
    )
    await projects.delete_project(name)
    with pytest.raises(NotFoundError):
        await projects.get_project(name)
    assert await resources.latest_commit(name) is None
    # Re-create under the same name: a clean project, old commit ids are gone.
    await projects.create_project(name, shipyard_yaml(STAGES), "v", STAGES, GitSettings())
    await projects.create_service(name, "carts")
    assert (await projects.get_service(name, "dev", "carts")).last_event_types == {}
    with pytest.raises(NotFoundError) as err:
        await resources.get(name, None, None, "shipyard.yaml", commit)
    assert err.value.entity == "commit"


async def test_record_service_event(projects: ProjectRepository, new_project: NewProject) -> None:
    name = await new_project(services=("carts",))
    t = "sh.keptn.event.dev.delivery.triggered"
    await projects.record_service_event(name, "dev", "carts", t, "e1", "ctx1", "2024-01-01T00:00:00.000Z")
    await projects.record_service_event(
        name,
        "dev",
        "carts",
        t,
        "e2",
        "ctx2",
        "2024-01-02T00:00:00.000Z",
        deployed_image="docker.io/carts:1.2",
    )
    await projects.record_service_event(
        name, "dev", "carts", "sh.keptn.event.deployment.finished", "e3", "ctx2", "3"
    )
    svc = await projects.get_service(name, "dev", "carts")
    assert svc.last_event_types == {
        t: {"eventId": "e2", "keptnContext": "ctx2", "time": "2024-01-02T00:00:00.000Z"},
        "sh.keptn.event.deployment.finished": {"eventId": "e3", "keptnContext": "ctx2", "time": "3"},
    }
    assert svc.deployed_image == "docker.io/carts:1.2"
    assert (await projects.get_service(name, "prod", "carts")).last_event_types == {}
    # Unknown entities are ignored.
    await projects.record_service_event(name, "dev", "nope", t, "e", "c", "1")
    await projects.record_service_event(
        unique_name("nope"), "dev", "carts", t, "e", "c", "1", deployed_image="i"
    )


async def test_concurrent_service_events(projects: ProjectRepository, new_project: NewProject) -> None:
    name = await new_project(services=("carts",))
    types = [f"sh.keptn.event.task{i}.triggered" for i in range(10)]
    await asyncio.gather(
        *(projects.record_service_event(name, "dev", "carts", t, t, "ctx", "1") for t in types)
    )
    assert set((await projects.get_service(name, "dev", "carts")).last_event_types) == set(types)
