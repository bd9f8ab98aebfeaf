"""Connecting to Temporal and registering the Keptn search attributes."""

from __future__ import annotations

import logging

from temporalio.api.enums.v1 import IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest, ListSearchAttributesRequest
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from keptn_temporal.search_attributes import KEPTN_SEARCH_ATTRIBUTES
from keptn_temporal.settings import Settings

log = logging.getLogger(__name__)

_KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD


async def connect_client(settings: Settings, *, identity: str | None = None) -> Client:
    return await Client.connect(
        settings.effective_temporal_address,
        namespace=settings.temporal_namespace,
        identity=identity,
    )


async def register_search_attributes(client: Client) -> list[str]:
    """Add the Keptn search attributes that are missing; return the names that were added.

    Idempotent, so every `migrate` may call it. An attribute that exists with another type is an error:
    silently keeping it would make every visibility query on it fail later, far from the cause.
    """
    namespace = client.namespace
    existing = await client.operator_service.list_search_attributes(
        ListSearchAttributesRequest(namespace=namespace)
    )
    wrong_type = [
        key.name
        for key in KEPTN_SEARCH_ATTRIBUTES
        if key.name in existing.custom_attributes and existing.custom_attributes[key.name] != _KEYWORD
    ]
    if wrong_type:
        raise RuntimeError(f"search attributes {wrong_type} exist in {namespace} but are not Keyword")
    missing = [key.name for key in KEPTN_SEARCH_ATTRIBUTES if key.name not in existing.custom_attributes]
    if not missing:
        return []
    try:
        await client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace=namespace, search_attributes=dict.fromkeys(missing, _KEYWORD)
            )
        )
    except RPCError as exc:
        # Two migrations racing: the other one added them first, which is what we wanted.
        if exc.status != RPCStatusCode.ALREADY_EXISTS:
            raise
    log.info("registered search attributes %s in namespace %s", missing, namespace)
    return missing
