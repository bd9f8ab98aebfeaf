from __future__ import annotations

import asyncio

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import select

from store.db import Database
from store.errors import AlreadyExistsError, NotFoundError, StoreError
from store.schema import Secret
from store.secrets import SecretRepository
from tests.fixtures.databases import unique_name


async def test_crud(secrets: SecretRepository) -> None:
    name = unique_name("sec")
    await secrets.create(name, "keptn-default", {"user": "u", "password": "p"})
    listed = {s.name: s for s in await secrets.list()}
    assert listed[name].scope == "keptn-default" and listed[name].keys == ["password", "user"]
    assert await secrets.get_data(name, "keptn-default") == {"user": "u", "password": "p"}

    await secrets.update(name, "keptn-webhook-service", {"token": "t"})
    listed = {s.name: s for s in await secrets.list()}
    assert listed[name].scope == "keptn-webhook-service" and listed[name].keys == ["token"]
    assert await secrets.get_data(name, "keptn-webhook-service") == {"token": "t"}
    with pytest.raises(NotFoundError):
        await secrets.get_data(name, "keptn-default")  # the scope grants read access

    await secrets.delete(name, "keptn-webhook-service")
    assert name not in {s.name for s in await secrets.list()}
    for call in (
        secrets.get_data(name, "keptn-default"),
        secrets.update(name, "s", {}),
        secrets.delete(name, "s"),
    ):
        with pytest.raises(NotFoundError) as err:
            await call
        assert err.value.entity == "secret"


async def test_name_is_unique_across_scopes(secrets: SecretRepository) -> None:
    name = unique_name("sec")
    await secrets.create(name, "keptn-default", {"a": "1"})
    for scope in ("keptn-default", "keptn-webhook-service"):
        with pytest.raises(AlreadyExistsError) as err:
            await secrets.create(name, scope, {"a": "2"})
        assert err.value.entity == "secret"
    assert await secrets.get_data(name, "keptn-default") == {"a": "1"}


async def test_concurrent_create(secrets: SecretRepository) -> None:
    name = unique_name("sec")
    results = await asyncio.gather(
        *(secrets.create(name, "keptn-default", {"i": str(i)}) for i in range(5)), return_exceptions=True
    )
    assert sum(r is None for r in results) == 1
    assert all(isinstance(r, AlreadyExistsError) for r in results if r is not None)


async def test_encrypted_at_rest(secrets: SecretRepository, database: Database) -> None:
    name = unique_name("sec")
    await secrets.create(name, "keptn-default", {"api-token": "super-secret-plaintext"})
    async with database.session() as s:
        raw = (await s.execute(select(Secret.data).where(Secret.name == name))).scalar_one()
    assert b"super-secret-plaintext" not in raw
    assert (
        b"api-token" not in raw
    )  # the whole JSON document is encrypted; keys are listed from their own column


async def test_wrong_key_is_a_clear_error(secrets: SecretRepository, database: Database) -> None:
    name = unique_name("sec")
    await secrets.create(name, "keptn-default", {"a": "b"})
    other = SecretRepository(database, Fernet.generate_key().decode())
    with pytest.raises(StoreError, match="encryption key"):
        await other.get_data(name, "keptn-default")


def test_malformed_key_fails_fast(database: Database) -> None:
    with pytest.raises(ValueError):
        SecretRepository(database, "not-a-fernet-key")
