"""Fixtures of the add-on tests: a running fake Supervisor, the add-on's config folder, and
test certificates.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from mqtt_kube.testing.certs import Certificates, make_certificates
from tests.support.fake_supervisor import (
    USER_CONFIG,
    FakeSupervisor,
)


@pytest.fixture
async def supervisor() -> AsyncIterator[FakeSupervisor]:
    fake = FakeSupervisor()
    app = web.Application()
    app.router.add_get("/services/mqtt", fake.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    fake.url = f"http://{host}:{port}"
    try:
        yield fake
    finally:
        await runner.cleanup()


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "config"
    folder.mkdir()
    (folder / "kubeconfig").write_text("apiVersion: v1\nkind: Config\n")
    (folder / "config.yaml").write_text(USER_CONFIG)
    return folder


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and a server certificate for 127.0.0.1 (the API server's, or the broker's)."""
    return make_certificates(tmp_path_factory.mktemp("pki"))
