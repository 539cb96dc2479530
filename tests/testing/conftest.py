"""The real kubernetes_asyncio API groups bound to the fake server, and a fake with its
controller quiet.
"""

from __future__ import annotations

import pytest
from kubernetes_asyncio import client as k8s_client

from mqtt_kube.testing.fakekube import FakeKube


@pytest.fixture
def apps(kube_client: k8s_client.ApiClient) -> k8s_client.AppsV1Api:
    return k8s_client.AppsV1Api(kube_client)


@pytest.fixture
def core(kube_client: k8s_client.ApiClient) -> k8s_client.CoreV1Api:
    return k8s_client.CoreV1Api(kube_client)


@pytest.fixture
def quiet_kube(fake_kube: FakeKube) -> FakeKube:
    """The fake with its controller off, so only the test's own writes make events."""
    fake_kube.controller = False
    return fake_kube


@pytest.fixture
def custom(kube_client: k8s_client.ApiClient) -> k8s_client.CustomObjectsApi:
    return k8s_client.CustomObjectsApi(kube_client)
