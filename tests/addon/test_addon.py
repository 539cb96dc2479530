"""The Home Assistant add-on entry (`python3 -m mqtt_kube.addon.main`) against a fake Supervisor.

Covers: the broker taken from the Supervisor's MQTT service (with its token), the user's
broker options winning (whole or one by one), a Supervisor that is unreachable or has no
MQTT service (a warning when the file names a broker, which is then used, else an error),
TLS for a broker announced with `ssl` (verified against the `mqtt_cafile` option, end to
end against a TLS mosquitto), the starter config written on the first start only and
loadable, the kubeconfig looked up in the add-on's folder, a ServiceAccount token turned
into a private kubeconfig (end to end against the fake API server behind TLS, requiring
that bearer token), bad options named plainly, the environment overrides, and the exit
statuses of the real entry point.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import shutil
import socket
import ssl
import stat
import subprocess
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from mqtt_kube.addon.cluster import GENERATED_KUBECONFIG
from mqtt_kube.addon.main import STARTER_CONFIG, prepare, write_starter_config
from mqtt_kube.addon.options import AddonEnvironment, AddonError, AddonOptions, read_options
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config, TlsSettings
from mqtt_kube.core.errors import Forbidden, KubeError
from mqtt_kube.core.message import Message
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.certs import Certificates, make_certificates
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import BrokerTls, Mosquitto
from tests.support.waiting import until

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
    assert config.mqtt.tls == TlsSettings()  # verified, against the system CAs


async def test_a_supervisor_broker_with_ssl_is_verified_against_the_cafile_option(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    (config_dir / "broker-ca.crt").write_text("-----BEGIN CERTIFICATE-----\n")
    supervisor.body["data"].update(ssl=True, port=8883)
    env = environment(tmp_path, config_dir, url=supervisor.url, mqtt_cafile="broker-ca.crt")
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        config = await prepare(env)
    assert config.mqtt.tls == TlsSettings(cafile=str(config_dir / "broker-ca.crt"))
    assert (
        "broker from the Supervisor: core-mosquitto:8883, TLS verified against "
        f"{config_dir / 'broker-ca.crt'}"
    ) in caplog.text


async def test_the_files_tls_section_applies_when_the_supervisor_announces_ssl(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    text = USER_CONFIG.replace(
        "client-id: addon-test", "client-id: addon-test\n  tls: {insecure: true}"
    )
    (config_dir / "config.yaml").write_text(text)
    supervisor.body["data"].update(ssl=True, port=8883)
    config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    assert config.mqtt.tls == TlsSettings(insecure=True)
    supervisor.body["data"].update(ssl=False, port=1883)
    config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    assert config.mqtt.tls is None  # the Supervisor says the listener is plain


async def test_the_cafile_option_turns_tls_on_for_a_plain_announcement(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    (config_dir / "ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    env = environment(
        tmp_path, config_dir, url=supervisor.url, mqtt_cafile="ca.pem", mqtt_port=8883
    )
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        config = await prepare(env)
    assert (config.mqtt.host, config.mqtt.port) == ("core-mosquitto", 8883)
    assert config.mqtt.tls == TlsSettings(cafile=str(config_dir / "ca.pem"))


async def test_a_missing_cafile_is_an_error_naming_it(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    env = environment(tmp_path, config_dir, url=supervisor.url, mqtt_cafile="gone.crt")
    with pytest.raises(AddonError) as caught:
        await prepare(env)
    assert str(caught.value) == (
        f"option 'mqtt_cafile' names {config_dir / 'gone.crt'}, which does not exist"
    )


def tls_mosquitto(pki: Certificates) -> Mosquitto:
    return Mosquitto(
        tls=BrokerTls(cafile=pki.cafile, certfile=pki.server_certfile, keyfile=pki.server_keyfile)
    )


@pytest.mark.parametrize("with_ca", [True, False])
async def test_a_tls_broker_from_the_supervisor_is_reached_only_with_its_ca(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    pki: Certificates,
    caplog: pytest.LogCaptureFixture,
    with_ca: bool,
) -> None:
    shutil.copy(pki.cafile, config_dir / "broker-ca.crt")
    options = {"mqtt_cafile": "broker-ca.crt"} if with_ca else {}
    with tls_mosquitto(pki) as broker:
        supervisor.body["data"] = {"host": "127.0.0.1", "port": broker.tls_port, "ssl": True}
        config = await prepare(environment(tmp_path, config_dir, url=supervisor.url, **options))
        messages: list[Message] = []
        connection = MqttConnection(config.mqtt, on_message=messages.append)
        task = asyncio.create_task(connection.run())
        try:
            if with_ca:
                assert await connection.wait_connected(10)
            else:
                await until(lambda: "certificate verify failed" in caplog.text)
                assert not connection.connected
        finally:
            await connection.close()
            await task


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


def records_at_or_above(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        f"{record.levelname} {record.getMessage()}"
        for record in caplog.records
        if record.levelno >= level and record.name.startswith("mqtt_kube.addon")
    ]


@pytest.mark.parametrize("failure", ["unreachable", "no token", "no service"])
async def test_no_supervisor_broker_is_a_warning_when_the_file_names_a_broker(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    (config_dir / "config.yaml").write_text(USER_CONFIG.replace("127.0.0.1", "broker.lan"))
    url, token = supervisor.url, TOKEN
    if failure == "unreachable":
        url = f"http://127.0.0.1:{closed_port()}"
    elif failure == "no token":
        token = None
    else:
        supervisor.status = 400
        supervisor.body = {"result": "error", "message": "Service not enabled"}
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        config = await prepare(environment(tmp_path, config_dir, url=url, token=token))
    assert (config.mqtt.host, config.mqtt.port) == ("broker.lan", 1884)
    (warning,) = records_at_or_above(caplog, logging.WARNING)
    assert warning.startswith("WARNING ")
    assert warning.endswith("; using the broker of the configuration file, broker.lan")
    assert "broker from the configuration file: broker.lan:1884, no TLS" in caplog.text


@pytest.mark.parametrize("failure", ["unreachable", "no token"])
async def test_no_supervisor_broker_and_none_in_the_file_is_an_error(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    caplog: pytest.LogCaptureFixture,
    failure: str,
) -> None:
    (config_dir / "config.yaml").write_text(USER_CONFIG.replace("  host: 127.0.0.1\n", ""))
    url = f"http://127.0.0.1:{closed_port()}" if failure == "unreachable" else supervisor.url
    token = None if failure == "no token" else TOKEN
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        await prepare(environment(tmp_path, config_dir, url=url, token=token))
    (error,) = records_at_or_above(caplog, logging.WARNING)
    assert error.startswith("ERROR Supervisor unreachable")
    assert error.endswith("; set the broker in the add-on options")


async def test_a_broker_in_the_options_leaves_nothing_to_warn_about_the_supervisor(
    tmp_path: Path, config_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    env = environment(tmp_path, config_dir, url=url, mqtt_host="broker.lan", mqtt_port=1885)
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        await prepare(env)
    assert records_at_or_above(caplog, logging.WARNING) == []
    assert "broker from the add-on options: broker.lan:1885, no TLS" in caplog.text


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


def token_folder(config_dir: Path, *, ca: Path | None) -> None:
    """The add-on's folder with a ServiceAccount token (and CA) instead of a kubeconfig."""
    (config_dir / "kubeconfig").unlink()
    (config_dir / "token").write_text(SA_TOKEN + "\n")
    if ca is not None:
        shutil.copy(ca, config_dir / "ca.crt")


async def test_a_token_and_the_server_option_become_a_kubeconfig_only_we_can_read(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    pki: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_folder(config_dir, ca=pki.cafile)
    server = "https://k8s.lan:6443"
    env = environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=server)
    with caplog.at_level(logging.DEBUG):
        config = await prepare(env)
    path = tmp_path / "data" / GENERATED_KUBECONFIG
    assert config.kubernetes.kubeconfig == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kubeconfig = yaml.safe_load(path.read_text())
    ((cluster,),) = [[c["cluster"] for c in kubeconfig["clusters"]]]
    assert cluster["server"] == server
    assert base64.b64decode(cluster["certificate-authority-data"]) == pki.cafile.read_bytes()
    assert "insecure-skip-tls-verify" not in cluster
    assert kubeconfig["users"][0]["user"] == {"token": SA_TOKEN}
    assert kubeconfig["current-context"] == kubeconfig["contexts"][0]["name"]
    assert f"with the token in {config_dir / 'token'}, verified against" in caplog.text
    assert SA_TOKEN not in caplog.text


async def test_without_ca_crt_the_system_cas_verify_the_server(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    token_folder(config_dir, ca=None)
    env = environment(
        tmp_path, config_dir, url=supervisor.url, kubernetes_server="https://k8s.example.com"
    )
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        config = await prepare(env)
    path = tmp_path / "data" / GENERATED_KUBECONFIG
    assert config.kubernetes.kubeconfig == str(path)
    cluster = yaml.safe_load(path.read_text())["clusters"][0]
    assert cluster["cluster"] == {"server": "https://k8s.example.com"}
    assert "verified against the system CAs" in caplog.text


async def test_a_kubeconfig_left_readable_by_others_is_narrowed_before_the_token_goes_in(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    token_folder(config_dir, ca=None)
    path = tmp_path / "data" / GENERATED_KUBECONFIG
    path.parent.mkdir()
    path.write_text("old\n")
    path.chmod(0o644)
    env = environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server="https://k")
    await prepare(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SA_TOKEN in path.read_text()


@pytest.mark.parametrize(
    ("token", "ca", "message"),
    [
        (None, None, "option 'kubernetes_server' is set but {dir}/token does not exist"),
        ("two words", None, "{dir}/token: not a token (expected one line without spaces)"),
        ("\n", None, "{dir}/token: not a token"),
        (SA_TOKEN, "not a certificate", "{dir}/ca.crt: not a PEM certificate"),
    ],
)
async def test_an_unusable_token_or_ca_is_an_error_naming_the_file(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    token: str | None,
    ca: str | None,
    message: str,
) -> None:
    (config_dir / "kubeconfig").unlink()
    if token is not None:
        (config_dir / "token").write_text(token)
    if ca is not None:
        (config_dir / "ca.crt").write_text(ca)
    env = environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server="https://k")
    with pytest.raises(AddonError) as caught:
        await prepare(env)
    assert message.format(dir=config_dir) in str(caught.value)
    assert not (tmp_path / "data" / GENERATED_KUBECONFIG).exists()


@pytest.fixture
async def tls_kube(pki: Certificates) -> AsyncIterator[tuple[FakeKube, str]]:
    """The fake API server behind TLS (certificate for 127.0.0.1), requiring SA_TOKEN."""
    fake = FakeKube(token=SA_TOKEN, controller=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_certfile, pki.server_keyfile)
    runner = web.AppRunner(fake.make_app(), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        yield fake, f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def get_jellyfin(config: Config, fake: FakeKube) -> dict[str, Any]:
    """The Deployment of USER_CONFIG, read with the Kubernetes settings `prepare` made."""
    fake.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"namespace": "media", "name": "jellyfin"},
            "spec": {"replicas": 1},
        }
    )
    client = await KubeClient.connect(config.kubernetes)
    try:
        return await client.request("GET", "/apis/apps/v1/namespaces/media/deployments/jellyfin")
    finally:
        await client.close()


async def test_the_token_reaches_the_api_server_over_tls_verified_against_ca_crt(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    pki: Certificates,
    tls_kube: tuple[FakeKube, str],
) -> None:
    fake, url = tls_kube
    token_folder(config_dir, ca=pki.cafile)
    config = await prepare(
        environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=url)
    )
    deployment = await get_jellyfin(config, fake)
    assert deployment["metadata"]["name"] == "jellyfin"
    assert [request.path for request in fake.requests] == [
        "/apis/apps/v1/namespaces/media/deployments/jellyfin"
    ]


async def test_without_ca_crt_a_private_api_server_is_not_trusted_and_gets_no_token(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    tls_kube: tuple[FakeKube, str],
) -> None:
    fake, url = tls_kube
    token_folder(config_dir, ca=None)
    config = await prepare(
        environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=url)
    )
    with pytest.raises(KubeError, match="certificate verify failed"):
        await get_jellyfin(config, fake)
    assert fake.requests == []


async def test_a_token_the_api_server_does_not_know_is_refused(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    pki: Certificates,
    tls_kube: tuple[FakeKube, str],
) -> None:
    fake, url = tls_kube
    token_folder(config_dir, ca=pki.cafile)
    (config_dir / "token").write_text("someone-elses-token")
    config = await prepare(
        environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=url)
    )
    with pytest.raises(Forbidden):
        await get_jellyfin(config, fake)
    assert len(fake.requests) == 1


def test_options_are_read_with_empty_fields_as_unset(tmp_path: Path) -> None:
    path = tmp_path / "options.json"
    path.write_text(
        json.dumps(
            {
                "log_level": "debug",
                "config_file": "mqtt-kube.yaml",
                "kubeconfig": "",
                "kubernetes_server": "HTTPS://k8s.lan:6443",
                "mqtt_host": " ",
                "mqtt_port": 1883,
                "mqtt_cafile": "",
            }
        )
    )
    assert read_options(path) == AddonOptions(
        log_level="DEBUG",
        config_file="mqtt-kube.yaml",
        kubernetes_server="HTTPS://k8s.lan:6443",
        mqtt_port=1883,
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
        (
            '{"kubernetes_server": "http://k8s.lan:6443"}',
            "option 'kubernetes_server' must be an https:// address (the token must not cross "
            "the network in clear), not 'http://k8s.lan:6443'",
        ),
        (
            '{"kubeconfig": "kubeconfig", "kubernetes_server": "https://k8s.lan"}',
            "set either option 'kubeconfig' or 'kubernetes_server', not both",
        ),
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
            "MQTT_KUBE_ADDON_DATA_DIR": str(tmp_path / "d"),
        }
    )
    assert env == AddonEnvironment(
        tmp_path / "o.json", tmp_path, "http://127.0.0.1:1", "t", tmp_path / "d"
    )


def test_the_environment_defaults_are_the_supervisors_paths() -> None:
    env = AddonEnvironment.from_environ({"SUPERVISOR_TOKEN": ""})
    assert env.supervisor_token is None
    assert env.options_path == Path("/data/options.json")
    assert env.config_dir == Path("/config")
    assert env.data_dir == Path("/data")
    assert env.supervisor_url == "http://supervisor"


def run_addon(tmp_path: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "options.json").write_text('{"log_level": "INFO", "config_file": "config.yaml"}')
    env = {
        **os.environ,
        "MQTT_KUBE_ADDON_OPTIONS": str(tmp_path / "options.json"),
        "MQTT_KUBE_ADDON_CONFIG_DIR": str(config_dir),
        "MQTT_KUBE_ADDON_DATA_DIR": str(tmp_path / "data"),
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
