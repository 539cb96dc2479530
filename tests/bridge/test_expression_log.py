"""A `lambda` map key that raises at run time is reported once, naming what to fix.

Covered: on a watch (every change of the object) and on a patch topic (every payload), the
first failure of an expression is one WARNING with the binding, the association, the topic
and the expression; later failures of the same expression are DEBUG only; another
expression still gets its own WARNING; the value counts as no match.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mqtt_kube.bridge.binding import Binding
from mqtt_kube.bridge.metrics import CommandCounters
from mqtt_kube.bridge.stateboard import StateBoard
from mqtt_kube.config.load import load_config
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.testing.fakekube import FakeKube

CONFIG = """\
mqtt: {client-id: expressions, topic-prefix: t}
bindings:
  - namespace: demo
    resource: Deployment
    name: app
    watch:
      locus: spec.replicas
      topic: app/state
      values:
        "lambda v: v.startswith('x')": "X"
    patch:
      topic: app/set
      locus: spec.replicas
      values:
        "lambda p: int(p) > 0": 1
        "lambda p: p['on']": 1
"""


class NoPublisher:
    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]:
        return asyncio.ensure_future(self.publish(topic, payload, qos=qos, retain=retain))

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> bool:
        return False


@pytest.fixture
async def binding(tmp_path: Path, fake_kube: FakeKube) -> AsyncIterator[Binding]:
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    path = tmp_path / "config.yaml"
    path.write_text(CONFIG + f"kubernetes:\n  kubeconfig: {kubeconfig}\n")
    config = load_config(path)
    client = await KubeClient.connect(config.kubernetes)
    yield Binding(
        config.bindings[0],
        client=client,
        board=StateBoard(NoPublisher()),
        counters=CommandCounters(),
    )
    await client.close()


def _levels(caplog: pytest.LogCaptureFixture, expression: str) -> list[int]:
    return [r.levelno for r in caplog.records if expression in r.getMessage()]


async def test_a_watch_lambda_that_raises_warns_once_with_the_binding_and_the_expression(
    binding: Binding, caplog: pytest.LogCaptureFixture
) -> None:
    expression = "lambda v: v.startswith('x')"
    with caplog.at_level(logging.DEBUG, logger="mqtt_kube.bridge"):
        for replicas in (1, 2, 3):
            binding.on_object({"metadata": {"name": "app"}, "spec": {"replicas": replicas}})
    assert _levels(caplog, expression) == [logging.WARNING, logging.DEBUG, logging.DEBUG]
    warning = next(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert warning.startswith("Deployment demo/app: bindings[0].watch[0] (t/app/state): ")
    assert f"lambda {expression!r} raised AttributeError" in warning
    assert "on 1; counted as no match" in warning


async def test_each_patch_lambda_that_raises_warns_once_and_the_payload_is_ignored(
    binding: Binding, caplog: pytest.LogCaptureFixture
) -> None:
    patch = binding.spec.patch[0]
    with caplog.at_level(logging.DEBUG, logger="mqtt_kube.bridge"):
        for payload in ("abc", "def"):
            await binding.apply_patch(patch, payload)
    assert _levels(caplog, "lambda p: int(p) > 0") == [logging.WARNING, logging.DEBUG]
    assert _levels(caplog, "lambda p: p['on']") == [logging.WARNING, logging.DEBUG]
    assert "bindings[0].patch[0] (t/app/set)" in caplog.text
    assert "'abc' on t/app/set maps to nothing; ignored" in caplog.text
