"""The FastAPI application: Keptn's public API under the same paths its gateway exposed (`/api/...`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, RedirectResponse

from api.auth import FailedAuthLimiter
from api.errors import install_error_handlers
from api.routes import (
    control,
    datastore,
    events,
    platform,
    projects,
    resources,
    secrets,
    sequences,
    statistics,
    uniform,
)
from api.state import ControlPlane, Readiness
from api.temporal import LazyTemporalClient
from eventbus.connection import connect
from eventbus.emitter import EventEmitter
from eventbus.publisher import EventPublisher
from keptn_temporal.settings import Settings
from store.db import Database
from store.events import EventRepository
from store.projects import ProjectRepository
from store.resources import ResourceRepository
from store.secrets import SecretRepository
from store.sequences import SequenceRepository, TriggeredEventRepository
from store.uniform import IntegrationRepository, LogRepository

log = logging.getLogger(__name__)


def create_app(settings: Settings) -> FastAPI:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings.database_url)
        nc = await connect(settings.effective_nats_url, name=f"keptn-api-{settings.api_port}")
        js = nc.jetstream(timeout=5)
        events_repo = EventRepository(db)
        app.state.nats = nc
        app.state.cp = ControlPlane(
            settings=settings,
            db=db,
            projects=ProjectRepository(db, settings.secret_key),
            resources=ResourceRepository(db),
            secrets=SecretRepository(db, settings.secret_key),
            events=events_repo,
            sequences=SequenceRepository(db),
            triggered=TriggeredEventRepository(db),
            integrations=IntegrationRepository(db),
            logs=LogRepository(db),
            emitter=EventEmitter(EventPublisher(js, settings.stream_name), events_repo),
            readiness=app.state.readiness,
        )
        app.state.readiness.started = True
        try:
            yield
        finally:
            # uvicorn runs this only after in-flight HTTP requests have finished (notes: uvicorn 3.1),
            # so draining NATS here cannot cut a publish that a request is still waiting on.
            app.state.readiness.stopping = True
            try:
                await nc.drain()
            except Exception:  # a drain error must not keep the process from exiting
                log.exception("NATS drain failed")
            await db.dispose()

    app = FastAPI(
        title="keptn-temporal",
        description="Keptn-compatible control plane API (api-service, controlPlane, resource-service, "
        "configuration-service, mongodb-datastore, statistics, secrets)",
        version="1.4.5-compatible",
        lifespan=lifespan,
        docs_url="/api/swagger-ui/",
        openapi_url="/api/openapi.json",
        redoc_url=None,
    )
    app.state.readiness = Readiness()
    app.state.auth_limiter = FailedAuthLimiter()
    app.state.temporal = LazyTemporalClient(settings)
    install_error_handlers(app)

    @app.get("/api", include_in_schema=False)
    async def _api_root() -> RedirectResponse:
        return RedirectResponse("/api/swagger-ui/")

    @app.get("/healthz", include_in_schema=False)
    async def _healthz() -> dict[str, str]:
        # Liveness only: must not depend on NATS or the DB, or their restarts would restart every replica.
        return {"status": "OK"}

    @app.get("/readyz", include_in_schema=False)
    async def _readyz() -> JSONResponse:
        readiness: Readiness = app.state.readiness
        if not readiness.ready:
            return JSONResponse(
                status_code=503, content={"status": "stopping" if readiness.stopping else "starting"}
            )
        if not app.state.nats.is_connected:
            return JSONResponse(status_code=503, content={"status": "nats disconnected"})
        try:
            await asyncio.wait_for(app.state.cp.db.ping(), timeout=2)
        except Exception:
            return JSONResponse(status_code=503, content={"status": "database unavailable"})
        return JSONResponse(content={"status": "OK"})

    for module in (
        platform,
        events,
        projects,
        control,
        resources,
        datastore,
        statistics,
        secrets,
        sequences,
        uniform,
    ):
        for router in module.routers():
            app.include_router(router)
    return app
