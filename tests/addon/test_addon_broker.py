"""The add-on's broker: taken from the Supervisor's MQTT service (with its token), TLS for a
broker announced with `ssl` (verified against the `mqtt_cafile` option, end to end against a
TLS mosquitto), the user's broker options winning whole or one by one, and a Supervisor that
is unreachable or has no MQTT service (a warning when the file names a broker, else an
error).
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from pathlib import Path

import pytest

from mqtt_kube.addon.main import prepare
from mqtt_kube.addon.options import AddonError
from mqtt_kube.config.model import TlsSettings
from mqtt_kube.core.message import Message
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.certs import Certificates
from mqtt_kube.testing.mosquitto import BrokerTls, Mosquitto
from tests.support.fake_supervisor import (
    TOKEN,
    USER_CONFIG,
    FakeSupervisor,
    closed_port,
    environment,
    records_at_or_above,
)
from tests.support.waiting import until


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
