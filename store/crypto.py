"""Encryption at rest for secret values (Fernet: AES-128-CBC + HMAC-SHA256, authenticated)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet, InvalidToken

from store.errors import StoreError


class SecretCipher:
    def __init__(self, key: str | bytes) -> None:
        # Fails fast on a malformed key instead of at the first secret write.
        self._fernet = Fernet(key.encode() if isinstance(key, str) else key)

    def encrypt(self, data: dict[str, str]) -> bytes:
        return self._fernet.encrypt(json.dumps(data, sort_keys=True).encode())

    def decrypt(self, token: bytes) -> dict[str, str]:
        try:
            plain = self._fernet.decrypt(token)
        except InvalidToken as exc:
            # Most likely the key changed (KEPTN_SECRET_KEY or data dir lost): say so clearly.
            raise StoreError("cannot decrypt a stored secret: wrong or rotated encryption key") from exc
        value = json.loads(plain)
        return {str(k): str(v) for k, v in value.items()}
