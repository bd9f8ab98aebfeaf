"""Secrets (secret-service), encrypted at rest with Fernet; only names, scopes and keys are ever listed.

Like Keptn (one Kubernetes Secret per name in the keptn namespace, scope as a label) a name is unique across
scopes: creating an existing name in another scope is a conflict, `update` also moves the secret to the given
scope, and `delete` removes the name whatever its scope. `get_data` does check the scope, since the scope is
what grants an integration read access.
"""

from __future__ import annotations

import builtins

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError

from store.crypto import SecretCipher
from store.db import Database
from store.errors import AlreadyExistsError, NotFoundError
from store.records import SecretRecord
from store.schema import Secret, utcnow


class SecretRepository:
    def __init__(self, db: Database, key: str) -> None:
        self.db = db
        self.key = key
        self._cipher = SecretCipher(key)

    async def create(self, name: str, scope: str, data: dict[str, str]) -> None:
        """Raises AlreadyExistsError("secret", name)."""
        now = utcnow()
        row = Secret(
            name=name,
            scope=scope,
            data=self._cipher.encrypt(data),
            keys=sorted(data),
            created_at=now,
            updated_at=now,
        )
        try:
            async with self.db.session(write=True) as session:
                session.add(row)
        except IntegrityError as exc:
            raise AlreadyExistsError("secret", name) from exc

    async def update(self, name: str, scope: str, data: dict[str, str]) -> None:
        """Replace the data. Raises NotFoundError("secret", name)."""
        async with self.db.session(write=True) as session:
            row = await session.get(Secret, name)
            if row is None:
                raise NotFoundError("secret", name)
            row.scope = scope
            row.data = self._cipher.encrypt(data)
            row.keys = sorted(data)
            row.updated_at = utcnow()

    async def delete(self, name: str, scope: str) -> None:
        """Raises NotFoundError("secret", name)."""
        async with self.db.session(write=True) as session:
            result = await session.execute(delete(Secret).where(Secret.name == name))
            if result.rowcount == 0:  # type: ignore[attr-defined]
                raise NotFoundError("secret", name)

    async def list(self) -> builtins.list[SecretRecord]:
        async with self.db.session() as session:
            rows = await session.execute(select(Secret.name, Secret.scope, Secret.keys).order_by(Secret.name))
            return [SecretRecord(name=r.name, scope=r.scope, keys=list(r.keys)) for r in rows]

    async def get_data(self, name: str, scope: str) -> dict[str, str]:
        """Decrypted values (for integrations such as the webhook service). Raises NotFoundError."""
        async with self.db.session() as session:
            row = (
                await session.execute(select(Secret.data).where(Secret.name == name, Secret.scope == scope))
            ).first()
        if row is None:
            raise NotFoundError("secret", name)
        return self._cipher.decrypt(row.data)
