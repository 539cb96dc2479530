"""Secrets stay secret, and TLS is verified unless the operator says otherwise.

Covered: the MQTT password, the client key's password and the API bearer token never
appear in the log at any level (DEBUG included, every library's logger), in /api/status,
in /metrics, in `mqtt-kube check` output, in the repr of the settings, or in config
problems — whether the secret is misplaced, of the wrong type, or written unquoted so
that YAML reads it as a tag or an alias. A refused login names the cause, not the
password. TLS: broker verification is on by default (`mqtt.tls: {}` refuses a broker
certificate no trusted CA signed) and `mqtt.tls.insecure: true` logs a warning; the API
server is always verified, even when the kubeconfig asks to skip it (with a warning).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import aiohttp
import pytest
import yaml
from aiohttp import web

from mqtt_kube.bridge.service import Service
from mqtt_kube.cli.main import main
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import KubernetesSettings, MqttSettings, TlsSettings
from mqtt_kube.core.errors import ConfigError, KubeError
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.testing.certs import Certificates, make_certificates
from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import BrokerTls, Mosquitto
from tests.support.broker_fixtures import MqttProbe
from tests.support.service_harness import running_service, write_config
from tests.support.waiting import until

PASSWORD: Final = "pw-3f9c1e-mqtt"
KEY_PASSWORD: Final = "pw-77ab02-key"
TOKEN: Final = "tok-5d1e88-bearer"
SECRETS: Final = (PASSWORD, KEY_PASSWORD, TOKEN)
BINDING: Final = """\
bindings:
  - namespace: lab
    resource: Deployment
    name: app
    patch:
      topic: app/set
      locus: spec.replicas
    watch:
      locus: spec.replicas
      topic: app/replicas
"""


def assert_no_secret(text: str, where: str) -> None:
    for secret in SECRETS:
        assert secret not in text, f"{where} shows a secret"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return make_certificates(tmp_path_factory.mktemp("pki"), key_password=KEY_PASSWORD)


@pytest.fixture
async def fake_with_token() -> AsyncIterator[FakeKube]:
    async with FakeKube(token=TOKEN) as fake:
        fake.put(
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "app", "namespace": "lab"},
                "spec": {"replicas": 0},
            }
        )
        yield fake


async def fetch(service: Service, path: str) -> str:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"http://127.0.0.1:{service.http.port}{path}") as response,
    ):
        return await response.text()


@pytest.fixture
def debug_everything(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Capture every logger at DEBUG: ours, aiomqtt/paho, aiohttp, kubernetes_asyncio."""
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="mqtt")  # aiomqtt holds paho's logger at WARNING
    return caplog


async def test_no_secret_reaches_the_log_the_status_or_the_metrics(
    tmp_path: Path,
    fake_with_token: FakeKube,
    mqtt_prefix: str,
    debug_everything: pytest.LogCaptureFixture,
) -> None:
    with Mosquitto(users={"kube": PASSWORD}) as broker:
        (tmp_path / "password").write_text(PASSWORD + "\n")
        auth = "  auth:\n    type: basic\n    username: kube\n    password: !file password\n"
        config = write_config(
            tmp_path,
            BINDING,
            broker=broker,
            fake=fake_with_token,
            prefix=mqtt_prefix,
            client_id="s",
        )
        config.write_text(config.read_text().replace("  keepalive: 5\n", "  keepalive: 5\n" + auth))
        async with running_service(config) as service:
            async with MqttProbe.connect(
                broker, subscribe=[f"{mqtt_prefix}/#"], username="kube", password=PASSWORD
            ) as probe:
                await probe.publish(f"{mqtt_prefix}/app/set", "2")
                assert await probe.next_text(f"{mqtt_prefix}/app/replicas") in {"0", "2"}
                await until(lambda: service.counters.patches == 1)
            fake_with_token.fail_next(1, status=401, method="PATCH")
            async with MqttProbe.connect(broker, username="kube", password=PASSWORD) as probe:
                await probe.publish(f"{mqtt_prefix}/app/set", "3")
            await until(lambda: service.counters.failed == 1)
            status, metrics = await fetch(service, "/api/status"), await fetch(service, "/metrics")
            broker.restart()
            await until(lambda: service.mqtt.stats.reconnects == 1, seconds=15)
            assert_no_secret(repr(service.config), "repr(Config)")
    assert "injected failure: HTTP 401" in debug_everything.text
    assert "MQTT broker" in debug_everything.text
    assert "Sending CONNECT (u1, p1" in debug_everything.text  # paho's DEBUG: with a password
    assert_no_secret(debug_everything.text, "the log")
    assert_no_secret(status, "/api/status")
    assert_no_secret(metrics, "/metrics")


async def test_mtls_with_a_key_password_never_logs_it(
    tmp_path: Path,
    pki: Certificates,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    debug_everything: pytest.LogCaptureFixture,
) -> None:
    tls = BrokerTls(
        cafile=pki.cafile,
        certfile=pki.server_certfile,
        keyfile=pki.server_keyfile,
        require_certificate=True,
    )
    with Mosquitto(tls=tls) as broker:
        auth = (
            "  auth:\n    type: mtls\n"
            f"    cafile: {pki.cafile}\n    certfile: {pki.client_certfile}\n"
            f"    keyfile: {pki.client_keyfile}\n    keyfile_password: {KEY_PASSWORD}\n"
        )
        config = write_config(
            tmp_path, BINDING, broker=broker, fake=fake_kube, prefix=mqtt_prefix, client_id="m"
        )
        text = config.read_text().replace(f"port: {broker.port}\n", f"port: {broker.tls_port}\n")
        config.write_text(text.replace("  keepalive: 5\n", "  keepalive: 5\n" + auth))
        async with running_service(config) as service:
            assert service.mqtt.connected
            status = await fetch(service, "/api/status")
    assert_no_secret(debug_everything.text, "the log")
    assert_no_secret(status, "/api/status")


async def test_a_refused_password_is_reported_without_it(
    tmp_path: Path, fake_kube: FakeKube, mqtt_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    with Mosquitto(users={"kube": "another-" + PASSWORD}) as broker:
        auth = f"  auth:\n    type: basic\n    username: kube\n    password: {PASSWORD}\n"
        config = write_config(
            tmp_path, BINDING, broker=broker, fake=fake_kube, prefix=mqtt_prefix, client_id="r"
        )
        config.write_text(config.read_text().replace("  keepalive: 5\n", "  keepalive: 5\n" + auth))
        async with started(config) as service:
            await until(lambda: "cannot connect" in caplog.text)
            assert not service.mqtt.connected
    assert "(check mqtt.auth: username and password)" in caplog.text
    assert_no_secret(caplog.text, "the log")


@contextlib.asynccontextmanager
async def started(config: Path) -> AsyncIterator[Service]:
    """The whole service, running but not necessarily ready; it must stop with status 0."""
    settings = load_config(config)
    client = await KubeClient.connect(settings.kubernetes)
    service = Service(settings, client=client)
    task = asyncio.create_task(service.run(handle_signals=False), name="service under test")
    try:
        yield service
    finally:
        service.stop()
        status = await asyncio.wait_for(task, 10)
        await client.close()
    assert status == 0


# -- config problems and the check command --------------------------------------------------


def auth_config(folder: Path, auth: str) -> Path:
    path = folder / "config.yaml"
    path.write_text(f"mqtt:\n  auth:\n{auth}bindings: []\n")
    return path


@pytest.mark.parametrize(
    ("auth", "problem"),
    [
        (f"    type: basic\n    username: u\n    password: !{PASSWORD}\n", "YAML tag"),
        (f"    type: basic\n    username: u\n    password: '!!x {PASSWORD}'\n", None),
        (f"    type: basic\n    username: u\n    password: !!{PASSWORD} x\n", "YAML tag"),
        (f"    type: basic\n    username: u\n    password: *{PASSWORD}\n", "undefined alias"),
        (f"    type: basic\n    username: u\n    password: [{PASSWORD}]\n", "expected text"),
        (f"    type: basic\n    username: u\n    password: {{{PASSWORD}: 1}}\n", "expected text"),
        ("    type: basic\n    username: u\n    password: 3.1415926\n", "expected text"),
        (f'    type: basic\n    username: u\n    password: "{PASSWORD}\n', "YAML"),
        (f"    type: none\n    password: {PASSWORD}\n", "auth type basic"),
        (f"    type: basic\n    username: u\n    passwrd: {PASSWORD}\n", "unknown key"),
        (f"    type: basic\n    username: u\n    password: {PASSWORD}: x\n", "YAML"),
        (f"    type: mtls\n    keyfile_password: !{KEY_PASSWORD}\n", "YAML tag"),
        (f"    type: mtls\n    keyfile_password: *{KEY_PASSWORD}\n", "undefined alias"),
        ("    type: mtls\n    keyfile_password: 1234.5678\n", "expected text"),
        (f"    type: basic\n    username: u\n    keyfile_password: {KEY_PASSWORD}\n", "mtls"),
    ],
)
def test_a_config_problem_never_shows_the_secret(
    tmp_path: Path, auth: str, problem: str | None
) -> None:
    path = auth_config(tmp_path, auth)
    if problem is None:
        assert load_config(path).mqtt.password == f"!!x {PASSWORD}"
        return
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = str(caught.value)
    assert problem in text
    assert_no_secret(text, "the problem")
    for secret in (*SECRETS, "3.1415926", "1234.5678"):
        assert secret not in text
        assert secret not in repr(caught.value.problems)


@pytest.mark.usefixtures("restore_logging")
def test_check_shows_the_user_but_never_the_password(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = auth_config(tmp_path, f"    type: basic\n    username: kube\n    password: {PASSWORD}\n")
    assert main(["check", str(path)]) == 0
    out, err = capsys.readouterr()
    assert "user kube" in out
    assert_no_secret(out + err, "mqtt-kube check")


def test_settings_reprs_hide_the_passwords() -> None:
    settings = MqttSettings(
        client_id="c",
        availability_topic="t",
        username="u",
        password=PASSWORD,
        tls=TlsSettings(keyfile_password=KEY_PASSWORD),
    )
    assert_no_secret(repr(settings), "repr(MqttSettings)")
    assert_no_secret(str(settings), "str(MqttSettings)")


# -- TLS verification -------------------------------------------------------------------------


def test_broker_tls_verification_is_on_unless_insecure_is_asked_for(tmp_path: Path) -> None:
    plain = load_config(auth_config(tmp_path, "    type: none\n"))
    assert plain.mqtt.tls is None
    path = tmp_path / "tls.yaml"
    path.write_text("mqtt:\n  tls: {}\nbindings: []\n")
    verified = load_config(path).mqtt
    assert verified.tls == TlsSettings()
    assert verified.tls is not None
    assert verified.tls.insecure is False
    assert verified.port == 8883
    path.write_text("mqtt:\n  tls:\n    insecure: true\nbindings: []\n")
    insecure = load_config(path).mqtt.tls
    assert insecure is not None
    assert insecure.insecure is True


async def test_a_broker_with_an_unknown_ca_is_refused_and_insecure_warns(
    tmp_path: Path,
    pki: Certificates,
    fake_kube: FakeKube,
    mqtt_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    tls = BrokerTls(cafile=pki.cafile, certfile=pki.server_certfile, keyfile=pki.server_keyfile)
    with Mosquitto(tls=tls) as broker:
        for insecure in (False, True):
            config = write_config(
                tmp_path, BINDING, broker=broker, fake=fake_kube, prefix=mqtt_prefix, client_id="t"
            )
            text = config.read_text().replace(
                f"port: {broker.port}\n", f"port: {broker.tls_port}\n"
            )
            tls_section = f"  tls:\n    insecure: {str(insecure).lower()}\n"
            config.write_text(text.replace("  keepalive: 5\n", "  keepalive: 5\n" + tls_section))
            async with started(config) as service:
                if insecure:
                    assert await service.mqtt.wait_connected(5)
                else:
                    await until(lambda: "certificate verify failed" in caplog.text)
                    assert not service.mqtt.connected
    assert "is not verified (mqtt.tls.insecure: true)" in caplog.text


@pytest.fixture
async def https_fake(pki: Certificates) -> AsyncIterator[str]:
    """The fake API's routes served over TLS with the test CA's server certificate."""
    fake = FakeKube()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_certfile, pki.server_keyfile)
    runner = web.AppRunner(fake.make_app())
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context)
    await site.start()
    port = runner.addresses[0][1]
    yield f"https://127.0.0.1:{port}"
    await runner.cleanup()


def kubeconfig(folder: Path, server: str, cluster: dict[str, object]) -> str:
    path = folder / "kubeconfig"
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "c", "cluster": {"server": server, **cluster}}],
                "users": [{"name": "u", "user": {"token": TOKEN}}],
                "contexts": [{"name": "x", "context": {"cluster": "c", "user": "u"}}],
                "current-context": "x",
            }
        )
    )
    return str(path)


@pytest.mark.parametrize(
    ("cluster", "works"),
    [
        ("right CA", True),
        ("system CAs", False),
        ("skip verification", False),
    ],
)
async def test_the_api_server_certificate_is_always_verified(
    tmp_path: Path,
    pki: Certificates,
    https_fake: str,
    caplog: pytest.LogCaptureFixture,
    cluster: str,
    works: bool,
) -> None:
    settings = {
        "right CA": {"certificate-authority": str(pki.cafile)},
        "system CAs": {},
        "skip verification": {"insecure-skip-tls-verify": True},
    }[cluster]
    client = await KubeClient.connect(
        KubernetesSettings(kubeconfig=kubeconfig(tmp_path, https_fake, settings))
    )
    try:
        if works:
            listing = await client.request("GET", "/api/v1/namespaces/lab/configmaps")
            assert listing["kind"] == "ConfigMapList"
        else:
            with pytest.raises(KubeError, match="certificate verify failed"):
                await client.request("GET", "/api/v1/namespaces/lab/configmaps")
    finally:
        await client.close()
    if cluster == "skip verification":
        assert "mqtt-kube always verifies it" in caplog.text
    assert_no_secret(caplog.text, "the log")
