"""Repository fixtures on the shared per-backend test database (see tests/fixtures/databases.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from cryptography.fernet import Fernet

from store.db import Database
from store.events import EventRepository
from store.projects import ProjectRepository
from store.records import GitSettings
from store.resources import ResourceRepository
from store.secrets import SecretRepository
from tests.fixtures.databases import unique_name

SECRET_KEY = Fernet.generate_key().decode()
STAGES = ["dev", "staging", "prod"]


def shipyard_yaml(stages: list[str]) -> str:
    body = "".join(f"    - name: {s}\n" for s in stages)
    return f"apiVersion: spec.keptn.sh/0.2.2\nkind: Shipyard\nmetadata:\n  name: s\nspec:\n  stages:\n{body}"


@pytest.fixture
def projects(database: Database) -> ProjectRepository:
    return ProjectRepository(database, secret_key=SECRET_KEY)


@pytest.fixture
def resources(database: Database) -> ResourceRepository:
    return ResourceRepository(database)


@pytest.fixture
def secrets(database: Database) -> SecretRepository:
    return SecretRepository(database, SECRET_KEY)


@pytest.fixture
def events(database: Database) -> EventRepository:
    return EventRepository(database)


NewProject = Callable[..., Awaitable[str]]


@pytest.fixture
def new_project(projects: ProjectRepository) -> NewProject:
    """Create a project with STAGES (and optional services); returns its name."""

    async def make(services: tuple[str, ...] = (), stages: list[str] | None = None) -> str:
        name = unique_name("proj")
        stage_names = stages or STAGES
        await projects.create_project(
            name, shipyard_yaml(stage_names), "spec.keptn.sh/0.2.2", stage_names, GitSettings()
        )
        for service in services:
            await projects.create_service(name, service)
        return name

    return make
