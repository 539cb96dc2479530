"""A fake Supervisor for the add-on tests (its MQTT service and token), the add-on's
environment pointed at a test's folders, and small helpers shared by those tests.
"""

from __future__ import annotations

import json
import shutil
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mqtt_kube.addon.options import AddonEnvironment

TOKEN = "supervisor-token-for-tests"
SA_TOKEN = "eyJhbGciOiJSUzI1NiJ9.service-account.signature"
BROKER = {
    "host": "core-mosquitto",
    "port": 1883,
    "ssl": False,
    "protocol": "3.1.1",
    "username": "addons",
    "password": "from-the-supervisor",
}
USER_CONFIG = """\
mqtt:
  host: 127.0.0.1
  port: 1884
  client-id: addon-test
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
    watch: {locus: status.availableReplicas, topic: jellyfin/state}
"""


@dataclass
class FakeSupervisor:
    """An aiohttp app answering `GET /services/mqtt` like the Supervisor does."""

    url: str = ""
    status: int = 200
    body: dict[str, Any] = field(default_factory=lambda: {"result": "ok", "data": dict(BROKER)})
    authorizations: list[str | None] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.authorizations.append(request.headers.get("Authorization"))
        return web.json_response(self.body, status=self.status)


def environment(
    tmp_path: Path, config_dir: Path, *, url: str, token: str | None = TOKEN, **options: object
) -> AddonEnvironment:
    path = tmp_path / "options.json"
    path.write_text(json.dumps({"log_level": "INFO", "config_file": "config.yaml", **options}))
    return AddonEnvironment(
        options_path=path,
        config_dir=config_dir,
        supervisor_url=url,
        supervisor_token=token,
        data_dir=tmp_path / "data",
    )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def records_at_or_above(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        f"{record.levelname} {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= level and record.name.startswith("mqtt_kube.addon")
    ]


def token_folder(config_dir: Path, *, ca: Path | None) -> None:
    """The add-on's folder with a ServiceAccount token (and CA) instead of a kubeconfig."""
    (config_dir / "kubeconfig").unlink()
    (config_dir / "token").write_text(SA_TOKEN + "\n")
    if ca is not None:
        shutil.copy(ca, config_dir / "ca.crt")
