"""The Home Assistant add-on entry (`python3 -m mqtt_kube.addon`) against a fake Supervisor.

Covers: the broker taken from the Supervisor's MQTT service (with its token), the user's
broker options winning (whole or one by one), a Supervisor that is unreachable or has no
MQTT service, the starter config written on the first start only and loadable, the
kubeconfig looked up in the add-on's folder, bad options named plainly, the environment
overrides, and the exit statuses of the real entry point.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from mqtt_kube.addon import (
    STARTER_CONFIG,
    AddonEnvironment,
    AddonError,
    AddonOptions,
    prepare,
    read_options,
    write_starter_config,
)
from mqtt_kube.config import TlsSettings
from mqtt_kube.schema import load_config

TOKEN = "supervisor-token-for-tests"
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


def environment(
    tmp_path: Path, config_dir: Path, *, url: str, token: str | None = TOKEN, **options: object
) -> AddonEnvironment:
    path = tmp_path / "options.json"
    path.write_text(json.dumps({"log_level": "INFO", "config_file": "config.yaml", **options}))
    return AddonEnvironment(
        options_path=path, config_dir=config_dir, supervisor_url=url, supervisor_token=token
    )


def closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_broker_comes_from_the_supervisor_when_the_options_leave_it_empty(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    assert supervisor.authorizations == [f"Bearer {TOKEN}"]
    assert (config.mqtt.host, config.mqtt.port) == ("core-mosquitto", 1883)
    assert (config.mqtt.username, config.mqtt.password) == ("addons", "from-the-supervisor")
    assert config.mqtt.tls is None
    assert config.mqtt.client_id == "addon-test"  # the rest of the file is kept


async def test_a_supervisor_broker_with_ssl_turns_tls_on(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    supervisor.body["data"].update(ssl=True, port=8883)
    config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    assert config.mqtt.port == 8883
    assert config.mqtt.tls == TlsSettings()


async def test_a_broker_host_in_the_options_means_the_supervisor_is_not_asked(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    env = environment(
        tmp_path,
        config_dir,
        url=supervisor.url,
        mqtt_host="broker.lan",
        mqtt_port=1885,
        mqtt_username="me",
        mqtt_password="secret",
    )
    config = await prepare(env)
    assert supervisor.authorizations == []
    assert (config.mqtt.host, config.mqtt.port) == ("broker.lan", 1885)
    assert (config.mqtt.username, config.mqtt.password) == ("me", "secret")


async def test_each_filled_broker_option_replaces_the_supervisors_value(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    env = environment(tmp_path, config_dir, url=supervisor.url, mqtt_username="", mqtt_password="x")
    config = await prepare(env)
    assert supervisor.authorizations == [f"Bearer {TOKEN}"]
    assert config.mqtt.host == "core-mosquitto"
    assert (config.mqtt.username, config.mqtt.password) == ("addons", "x")


async def test_an_unreachable_supervisor_is_logged_and_the_file_broker_is_kept(
    tmp_path: Path, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with caplog.at_level(logging.ERROR, logger="mqtt_kube.addon"):
        config = await prepare(environment(tmp_path, config_dir, url=url))
    assert f"Supervisor unreachable at {url}/services/mqtt" in caplog.text
    assert (config.mqtt.host, config.mqtt.port) == ("127.0.0.1", 1884)


async def test_no_token_means_no_supervisor_to_ask(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mqtt_kube.addon"):
        await prepare(environment(tmp_path, config_dir, url=supervisor.url, token=None))
    assert supervisor.authorizations == []
    assert "Supervisor unreachable: SUPERVISOR_TOKEN is not set" in caplog.text


async def test_a_supervisor_without_mqtt_service_is_logged(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    caplog: pytest.LogCaptureFixture,
) -> None:
    supervisor.status = 400
    supervisor.body = {"result": "error", "message": "Service not enabled"}
    with caplog.at_level(logging.ERROR, logger="mqtt_kube.addon"):
        config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    assert "no MQTT service: the Supervisor answered 400 (Service not enabled)" in caplog.text
    assert config.mqtt.host == "127.0.0.1"


async def test_the_first_start_writes_a_starter_config_that_loads(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    (config_dir / "config.yaml").unlink()
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    path = config_dir / "config.yaml"
    assert path.read_text() == STARTER_CONFIG
    assert f"wrote a starter configuration to {path}" in caplog.text
    assert config.homeassistant is not None
    assert [binding.label for binding in config.bindings] == ["Deployment default/my-app"]
    assert config.mqtt.host == "core-mosquitto"
    assert load_config(path).bindings == config.bindings


def test_the_starter_config_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.yaml"
    assert write_starter_config(path) is True
    path.write_text("# mine\n")
    assert write_starter_config(path) is False
    assert path.read_text() == "# mine\n"


async def test_the_kubeconfig_in_the_addon_folder_is_used(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    (config_dir / "kubeconfig").rename(config_dir / "cluster.yaml")
    env = environment(tmp_path, config_dir, url=supervisor.url, kubeconfig="cluster.yaml")
    config = await prepare(env)
    assert config.kubernetes.kubeconfig == str(config_dir / "cluster.yaml")


async def test_a_kubeconfig_named_in_the_config_file_wins(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    (config_dir / "kubeconfig").unlink()
    (config_dir / "mine").write_text("apiVersion: v1\nkind: Config\n")
    text = USER_CONFIG.replace("bindings:", "kubernetes:\n  kubeconfig: !relpath mine\nbindings:")
    (config_dir / "config.yaml").write_text(text)
    config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    assert config.kubernetes.kubeconfig == str(config_dir / "mine")


@pytest.mark.parametrize(
    ("option", "looked_for"),
    [(None, "kubeconfig, "), ("cluster.yaml", "cluster.yaml)")],
)
async def test_no_kubeconfig_is_an_error_saying_where_it_looked(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    option: str | None,
    looked_for: str,
) -> None:
    (config_dir / "kubeconfig").unlink()
    env = environment(tmp_path, config_dir, url=supervisor.url, kubeconfig=option)
    with pytest.raises(AddonError, match="no kubeconfig found") as caught:
        await prepare(env)
    assert f"{config_dir}/{looked_for}" in str(caught.value)


def test_options_are_read_with_empty_fields_as_unset(tmp_path: Path) -> None:
    path = tmp_path / "options.json"
    path.write_text(
        json.dumps(
            {
                "log_level": "debug",
                "config_file": "mqtt-kube.yaml",
                "kubeconfig": "",
                "mqtt_host": " ",
                "mqtt_port": 1883,
            }
        )
    )
    assert read_options(path) == AddonOptions(
        log_level="DEBUG", config_file="mqtt-kube.yaml", mqtt_port=1883
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{\n  'log_level': 1\n}", ":2: not valid JSON"),
        ("[]", "the add-on options must be a JSON object"),
        ('{"mqtt_port": 70000}', "option 'mqtt_port' must be a port number (1-65535), not 70000"),
        ('{"mqtt_port": "1883"}', "option 'mqtt_port' must be a port number"),
        ('{"log_level": "LOUD"}', "option 'log_level' must be one of DEBUG, INFO, WARNING, ERROR"),
        ('{"mqtt_host": 5}', "option 'mqtt_host' must be text, not 5"),
    ],
)
def test_bad_options_are_named_with_their_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "options.json"
    path.write_text(content)
    with pytest.raises(AddonError) as caught:
        read_options(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_missing_options_say_the_supervisor_writes_them(tmp_path: Path) -> None:
    with pytest.raises(AddonError, match="not found; the Supervisor writes it"):
        read_options(tmp_path / "options.json")


def test_the_environment_moves_every_input(tmp_path: Path) -> None:
    env = AddonEnvironment.from_environ(
        {
            "MQTT_KUBE_ADDON_OPTIONS": str(tmp_path / "o.json"),
            "MQTT_KUBE_ADDON_CONFIG_DIR": str(tmp_path),
            "MQTT_KUBE_SUPERVISOR_URL": "http://127.0.0.1:1",
            "SUPERVISOR_TOKEN": "t",
        },
        s6_environment=tmp_path / "none",
    )
    assert env == AddonEnvironment(tmp_path / "o.json", tmp_path, "http://127.0.0.1:1", "t")


def test_the_token_is_read_from_s6_when_the_environment_lacks_it(tmp_path: Path) -> None:
    (tmp_path / "SUPERVISOR_TOKEN").write_text("from-s6\n")
    env = AddonEnvironment.from_environ({}, s6_environment=tmp_path)
    assert env.supervisor_token == "from-s6"
    assert env.options_path == Path("/data/options.json")
    assert env.config_dir == Path("/config")
    assert env.supervisor_url == "http://supervisor"


def run_addon(tmp_path: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "options.json").write_text('{"log_level": "INFO", "config_file": "config.yaml"}')
    env = {
        **os.environ,
        "MQTT_KUBE_ADDON_OPTIONS": str(tmp_path / "options.json"),
        "MQTT_KUBE_ADDON_CONFIG_DIR": str(config_dir),
        "MQTT_KUBE_SUPERVISOR_URL": f"http://127.0.0.1:{closed_port()}",
        "SUPERVISOR_TOKEN": TOKEN,
    }
    return subprocess.run(
        [sys.executable, "-m", "mqtt_kube.addon"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_entry_point_exits_2_listing_config_mistakes(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "config.yaml").write_text(USER_CONFIG.replace("status.availableReplicas", "'[['"))
    result = run_addon(tmp_path, config_dir)
    assert result.returncode == 2, result.stderr
    assert f"{config_dir / 'config.yaml'}:" in result.stderr
    assert "bindings[0].watch[0].locus" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_entry_point_exits_1_without_a_kubeconfig(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "kubeconfig").unlink()
    result = run_addon(tmp_path, config_dir)
    assert result.returncode == 1, result.stderr
    assert "Supervisor unreachable" in result.stderr
    assert "no kubeconfig found" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_entry_point_exits_1_naming_an_unusable_kubeconfig(
    tmp_path: Path, config_dir: Path
) -> None:
    result = run_addon(tmp_path, config_dir)  # the fixture's kubeconfig has no context
    assert result.returncode == 1, result.stderr
    assert f"stopped: cannot load Kubernetes credentials from kubeconfig {config_dir}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
