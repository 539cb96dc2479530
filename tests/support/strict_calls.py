"""Requests the strictness tests of the fake API server send by hand (a raw patch with a chosen
content type and query) and the refusal they expect.
"""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.client.exceptions import ApiException

from tests.support.fake_api_calls import (
    MERGE,
    NS,
)

OPAQUE_422 = "the server rejected our request due to an error in our request"


async def raw_patch(
    apps: k8s_client.AppsV1Api, body: object, *, content_type: str = MERGE, **params: Any
) -> tuple[int, dict[str, Any], list[str]]:
    """PATCH deployment jellyfin: (status, parsed body, Warning headers)."""
    response = await apps.patch_namespaced_deployment(
        "jellyfin", NS, body, _content_type=content_type, _preload_content=False, **params
    )
    try:
        return response.status, await response.json(), response.headers.getall("Warning", [])
    finally:
        response.release()


async def failure(call: Any) -> ApiException:
    with pytest.raises(ApiException) as raised:
        await call
    return raised.value
