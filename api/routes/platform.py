"""api-service: `/api/v1/auth` and `/api/v1/metadata`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response

from api.auth import api_service_auth, auth_endpoint_auth

KEPTN_VERSION = "1.4.5"
SHIPYARD_VERSION = "0.2.0"


def routers() -> list[APIRouter]:
    router = APIRouter(prefix="/api/v1", tags=["api-service"])

    # Keptn's gateway maps every method on /api/v1/auth to POST.
    @router.post("/auth", dependencies=[Depends(auth_endpoint_auth)], summary="Check the API token")
    @router.get("/auth", dependencies=[Depends(auth_endpoint_auth)], include_in_schema=False)
    async def auth() -> Response:
        return Response(status_code=200)

    @router.get("/metadata", dependencies=[Depends(api_service_auth)], summary="Control-plane metadata")
    async def metadata(request: Request) -> dict[str, Any]:
        settings = request.app.state.cp.settings
        return {
            # No git upstream is needed: projects live in our own store, so the CLI may omit git flags.
            "automaticprovisioning": True,
            "bridgeversion": "N/A",
            "keptnlabel": "keptn",
            "keptnversion": KEPTN_VERSION,
            "namespace": settings.keptn_namespace,
            "shipyardversion": SHIPYARD_VERSION,
        }

    return [router]
