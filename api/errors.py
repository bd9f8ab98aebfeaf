"""Keptn's error envelope `{"code": <int>, "message": "<text>"}` for every failure the API returns.

FastAPI's own errors (validation, unknown route, wrong method, unreadable JSON) are re-shaped here too, so a
client never sees a body Keptn would not have sent.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from keptn.errors import KeptnValidationError

log = logging.getLogger(__name__)


class KeptnHTTPError(Exception):
    """An error answer. `code` defaults to the HTTP status (Keptn puts its own enum there in a few places)."""

    def __init__(self, status: int, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = status if code is None else code


def error_response(status: int, message: str, code: int | None = None) -> JSONResponse:
    return JSONResponse(
        status_code=status, content={"code": status if code is None else code, "message": message}
    )


def _validation_message(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ()) if p != "body")
        if err.get("type") == "json_invalid":
            return "could not parse request body: invalid JSON"
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(KeptnHTTPError)
    async def _keptn(_: Request, exc: KeptnHTTPError) -> JSONResponse:
        return error_response(exc.status, exc.message, exc.code)

    @app.exception_handler(KeptnValidationError)
    async def _domain(_: Request, exc: KeptnValidationError) -> JSONResponse:
        return error_response(400, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(400, _validation_message(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = exc.detail if isinstance(exc.detail, str) else "error"
        if exc.status_code == 404 and message == "Not Found":
            message = "not found"
        return error_response(exc.status_code, message)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "internal server error")
