"""Shared fixtures: a real mosquitto broker and the fake Kubernetes API server."""

from tests.broker_fixtures import *  # noqa: F403
from tests.kube_fixtures import *  # noqa: F403
