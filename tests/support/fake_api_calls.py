"""Small helpers for tests of the fake API server: a Deployment body (kube_objects' own), a
refusal's Status body, raw watch streams and what their events carry.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.support.kube_objects import NS as NS
from tests.support.kube_objects import deployment as deployment

MERGE = "application/merge-patch+json"
JSON_PATCH = "application/json-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"


def status_body(exc: ApiException) -> dict[str, Any]:
    body = json.loads(exc.body)
    assert isinstance(body, dict)
    return body


async def raw_watch(apps: k8s_client.AppsV1Api, **params: Any) -> AsyncIterator[dict[str, Any]]:
    """Events of a raw watch of Deployments in NS, parsed line by line."""
    response = await apps.list_namespaced_deployment(
        NS, watch=True, _preload_content=False, **params
    )
    try:
        assert response.status == 200
        async for line in response.content:
            yield json.loads(line)
    finally:
        response.release()


async def take(events: AsyncIterator[dict[str, Any]], count: int) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    async with asyncio.timeout(5):
        async for event in events:
            found.append(event)
            if len(found) == count:
                break
    return found


def kinds_and_replicas(events: list[dict[str, Any]]) -> list[tuple[str, int | None]]:
    return [(e["type"], (e["object"].get("spec") or {}).get("replicas")) for e in events]
