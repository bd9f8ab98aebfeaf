"""Secrets (secret-service), encrypted at rest with Fernet; only names, scopes and keys are ever listed."""

from __future__ import annotations

from store.db import Database
from store.records import SecretRecord


class SecretRepository:
    def __init__(self, db: Database, key: str) -> None:
        self.db = db
        self.key = key

    async def create(self, name: str, scope: str, data: dict[str, str]) -> None:
        """Raises AlreadyExistsError("secret", name)."""
        raise NotImplementedError

    async def update(self, name: str, scope: str, data: dict[str, str]) -> None:
        """Replace the data. Raises NotFoundError("secret", name)."""
        raise NotImplementedError

    async def delete(self, name: str, scope: str) -> None:
        """Raises NotFoundError("secret", name)."""
        raise NotImplementedError

    async def list(self) -> list[SecretRecord]:
        raise NotImplementedError

    async def get_data(self, name: str, scope: str) -> dict[str, str]:
        """Decrypted values (for integrations such as the webhook service). Raises NotFoundError."""
        raise NotImplementedError
