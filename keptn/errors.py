"""Errors raised by the pure Keptn domain layer."""

from __future__ import annotations


class KeptnValidationError(Exception):
    """Input that breaks a Keptn rule.

    `message` is the text Keptn itself returned for the same input wherever Keptn had one, so the API
    layer can put it into the `{"code": 400, "message": ...}` envelope unchanged. Deliberately not a
    `ValueError`: pydantic would swallow a `ValueError` raised inside a validator and re-wrap it with its
    own wording.
    """

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
