from __future__ import annotations

import asyncio
import re

import pytest

from store.db import Database
from store.errors import NotFoundError
from store.resources import ResourceRepository
from tests.store.conftest import NewProject

HEX40 = re.compile(r"^[0-9a-f]{40}$")


async def test_write_and_read_each_level(resources: ResourceRepository, new_project: NewProject) -> None:
    name = await new_project(services=("carts",))
    c1 = await resources.write(name, None, None, [("a.yaml", b"project")])
    c2 = await resources.write(name, "dev", None, [("a.yaml", b"stage")])
    c3 = await resources.write(
        name, "dev", "carts", [("a.yaml", b"service"), ("/helm/chart.tgz", b"\x00\xff")]
    )
    assert len({c1, c2, c3}) == 3 and all(HEX40.match(c) for c in (c1, c2, c3))

    p = await resources.get(name, None, None, "a.yaml")
    assert (p.content, p.stage, p.service, p.commit_id) == (b"project", None, None, c3)
    s = await resources.get(name, "dev", None, "a.yaml")
    assert (s.content, s.stage, s.service) == (b"stage", "dev", None)
    v = await resources.get(name, "dev", "carts", "helm/chart.tgz")  # leading slash is not significant
    assert (v.uri, v.content, v.stage, v.service) == ("helm/chart.tgz", b"\x00\xff", "dev", "carts")
    with pytest.raises(NotFoundError) as err:
        await resources.get(name, "prod", None, "a.yaml")  # no inheritance between levels
    assert err.value.entity == "resource"


async def test_list_is_per_level_sorted_and_paged(
    resources: ResourceRepository, new_project: NewProject
) -> None:
    name = await new_project(services=("carts",))
    await resources.write(name, "dev", None, [(f"r{i}.yaml", str(i).encode()) for i in (3, 1, 4, 0, 2)])
    await resources.write(name, "dev", "carts", [("svc.yaml", b"s")])
    page, total = await resources.list(name, "dev", None, offset=0, limit=2)
    assert total == 5 and [r.uri for r in page] == ["r0.yaml", "r1.yaml"]
    page, total = await resources.list(name, "dev", None, offset=4, limit=2)
    assert total == 5 and [r.uri for r in page] == ["r4.yaml"]
    project_level, total = await resources.list(name, None, None)
    assert [r.uri for r in project_level] == ["shipyard.yaml"] and total == 1
    service_level, _ = await resources.list(name, "dev", "carts")
    assert [r.uri for r in service_level] == ["svc.yaml"]
    assert await resources.list(name, "prod", "carts") == ([], 0)


async def test_old_versions_readable_by_commit(
    resources: ResourceRepository, new_project: NewProject
) -> None:
    name = await new_project()
    c1 = await resources.write(name, "dev", None, [("a.yaml", b"v1"), ("b.yaml", b"b1")])
    c2 = await resources.write(name, "dev", None, [("a.yaml", b"v2")])
    c3 = await resources.write(name, "dev", None, [("c.yaml", b"c1")])
    assert (await resources.get(name, "dev", None, "a.yaml", c1)).content == b"v1"
    assert (await resources.get(name, "dev", None, "a.yaml", c2)).content == b"v2"
    assert (await resources.get(name, "dev", None, "a.yaml", c3)).content == b"v2"
    assert (await resources.get(name, "dev", None, "a.yaml", c1)).commit_id == c1
    with pytest.raises(NotFoundError) as err:
        await resources.get(name, "dev", None, "c.yaml", c2)
    assert err.value.entity == "resource"
    at_c1, total = await resources.list(name, "dev", None, commit_id=c1)
    assert [(r.uri, r.content) for r in at_c1] == [("a.yaml", b"v1"), ("b.yaml", b"b1")] and total == 2
    at_c3, total = await resources.list(name, "dev", None, commit_id=c3)
    assert [(r.uri, r.content) for r in at_c3] == [("a.yaml", b"v2"), ("b.yaml", b"b1"), ("c.yaml", b"c1")]
    assert all(r.commit_id == c3 for r in at_c3)


async def test_delete_is_a_tombstone_version(resources: ResourceRepository, new_project: NewProject) -> None:
    name = await new_project()
    c1 = await resources.write(name, "dev", None, [("a.yaml", b"v1"), ("b.yaml", b"b")])
    c2 = await resources.delete(name, "dev", None, "/a.yaml")
    assert HEX40.match(c2) and c2 != c1
    assert await resources.latest_commit(name) == c2
    with pytest.raises(NotFoundError) as err:
        await resources.get(name, "dev", None, "a.yaml")
    assert err.value.entity == "resource"
    assert (await resources.get(name, "dev", None, "a.yaml", c1)).content == b"v1"
    assert [r.uri for r in (await resources.list(name, "dev", None))[0]] == ["b.yaml"]
    assert (await resources.list(name, "dev", None))[1] == 1
    with pytest.raises(NotFoundError) as err:
        await resources.delete(name, "dev", None, "a.yaml")  # already deleted
    assert err.value.entity == "resource"
    # Written again after the delete: readable again, history intact.
    c3 = await resources.write(name, "dev", None, [("a.yaml", b"v3")])
    assert (await resources.get(name, "dev", None, "a.yaml")).content == b"v3"
    with pytest.raises(NotFoundError):
        await resources.get(name, "dev", None, "a.yaml", c2)
    assert (await resources.get(name, "dev", None, "a.yaml", c3)).content == b"v3"


async def test_not_found_entities(resources: ResourceRepository, new_project: NewProject) -> None:
    name = await new_project(services=("carts",))
    other = await new_project()
    cases = [
        (("nope-project", None, None), "project"),
        ((name, "nope", None), "stage"),
        ((name, "dev", "nope"), "service"),
    ]
    for (project, stage, service), entity in cases:
        for call in (
            resources.write(project, stage, service, [("a", b"a")]),
            resources.get(project, stage, service, "a"),
            resources.list(project, stage, service),
            resources.delete(project, stage, service, "a"),
        ):
            with pytest.raises(NotFoundError) as err:
                await call
            assert err.value.entity == entity
    other_commit = await resources.latest_commit(other)
    assert other_commit is not None
    for commit in ("0" * 40, other_commit):  # unknown, or a commit of another project
        with pytest.raises(NotFoundError) as err:
            await resources.get(name, None, None, "shipyard.yaml", commit)
        assert err.value.entity == "commit"
        with pytest.raises(NotFoundError) as err:
            await resources.list(name, None, None, commit_id=commit)
        assert err.value.entity == "commit"
    assert await resources.latest_commit("nope-project") is None


async def test_invalid_arguments(resources: ResourceRepository, new_project: NewProject) -> None:
    name = await new_project(services=("carts",))
    with pytest.raises(ValueError):
        await resources.write(name, None, "carts", [("a", b"a")])
    with pytest.raises(ValueError):
        await resources.write(name, "dev", None, [("/", b"a")])
    with pytest.raises(ValueError):
        await resources.write(name, "dev", None, [])


async def test_repeated_uri_in_one_write_keeps_last(
    resources: ResourceRepository, new_project: NewProject
) -> None:
    name = await new_project()
    await resources.write(name, "dev", None, [("a.yaml", b"1"), ("/a.yaml", b"2")])
    assert (await resources.get(name, "dev", None, "a.yaml")).content == b"2"


async def test_concurrent_writes(resources: ResourceRepository, new_project: NewProject) -> None:
    name = await new_project()
    n = 20
    commits = await asyncio.gather(
        *(
            resources.write(name, "dev", None, [("shared.yaml", f"{i}".encode()), (f"own{i:02}.yaml", b"x")])
            for i in range(n)
        )
    )
    assert len(set(commits)) == n
    _, total = await resources.list(name, "dev", None, limit=100)
    assert total == n + 1
    latest = await resources.latest_commit(name)
    assert latest in commits
    # The shared file holds the content of the newest commit, and every commit shows a consistent snapshot:
    # exactly the own files of the commits up to it.
    newest_index = commits.index(latest)  # type: ignore[arg-type]
    assert (await resources.get(name, "dev", None, "shared.yaml")).content == f"{newest_index}".encode()
    sizes = []
    for i, commit in enumerate(commits):
        snapshot, _ = await resources.list(name, "dev", None, commit_id=commit, limit=100)
        assert f"own{i:02}.yaml" in {r.uri for r in snapshot}
        assert (await resources.get(name, "dev", None, "shared.yaml", commit)).content == f"{i}".encode()
        sizes.append(len(snapshot))
    assert sorted(sizes) == list(range(2, n + 2))


async def test_concurrent_writes_to_different_projects(
    resources: ResourceRepository, new_project: NewProject
) -> None:
    names = [await new_project() for _ in range(4)]
    await asyncio.gather(
        *(resources.write(p, "dev", None, [(f"f{i}", b"x")]) for p in names for i in range(5))
    )
    for p in names:
        assert (await resources.list(p, "dev", None))[1] == 5


async def test_concurrent_writes_from_two_replicas(database_url: str, new_project: NewProject) -> None:
    """Two engines (as two API replicas/workers would have) writing one project at once."""
    name = await new_project()
    replicas = [Database(database_url), Database(database_url)]
    try:
        repos = [ResourceRepository(db) for db in replicas]
        commits = await asyncio.gather(
            *(
                repos[i % 2].write(name, "dev", None, [(f"f{i:02}", b"x"), ("shared", str(i).encode())])
                for i in range(20)
            )
        )
        assert len(set(commits)) == 20
        _, total = await repos[0].list(name, "dev", None, limit=100)
        assert total == 21
        latest = await repos[1].latest_commit(name)
        assert (await repos[1].get(name, "dev", None, "shared")).content == str(
            commits.index(latest)
        ).encode()
    finally:
        for db in replicas:
            await db.dispose()
