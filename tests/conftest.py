"""Shared fixtures: a real mosquitto broker, the fake Kubernetes API server, a real Home
Assistant, logging."""

import logging
from collections.abc import Iterator

import pytest

from tests.support.broker_fixtures import *  # noqa: F403
from tests.support.ha_fixtures import *  # noqa: F403
from tests.support.kube_fixtures import *  # noqa: F403


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """cli.main() installs a root handler; put the root logger back as it was."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            root.removeHandler(handler)
    root.setLevel(level)
