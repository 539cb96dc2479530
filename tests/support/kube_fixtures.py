"""Fixtures for the fake Kubernetes API server: the server itself and a client for it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio import client as k8s_client

from mqtt_kube.testing.fakekube import DEFAULT_BEARER, FakeKube

__all__ = ["fake_kube", "kube_client"]


@pytest.fixture
async def fake_kube() -> AsyncIterator[FakeKube]:
    """A started fake API server on a free loopback port, stopped after the test."""
    async with FakeKube() as fake:
        yield fake


@pytest.fixture
async def kube_client(fake_kube: FakeKube) -> AsyncIterator[k8s_client.ApiClient]:
    """A real kubernetes_asyncio ApiClient pointed at `fake_kube`, with a bearer token."""
    configuration = k8s_client.Configuration(
        host=fake_kube.url,
        api_key={"BearerToken": fake_kube.token or DEFAULT_BEARER},
        api_key_prefix={"BearerToken": "Bearer"},
    )
    api = k8s_client.ApiClient(configuration)
    yield api
    await api.close()
