"""The MQTT connection against a real mosquitto.

Covered: `online`/`offline` retained on the availability topic (on connect, on close, on
cancellation, and by the Last Will when the link is cut); publish while disconnected;
subscriptions made before and during `run()`; oversize payloads; a failing handler;
basic auth (accepted, refused with a clear log that never shows the password); TLS with
a server from the right CA, the wrong CA, and `insecure`; mTLS with a password-protected
key, a broker certificate from the wrong CA, and a wrong key password; no broker at all;
a broker restart (reconnect, resubscribe, connect hooks run again, messages flow again);
bad subscription arguments.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from mqtt_kube.config.model import MqttSettings, TlsSettings
from mqtt_kube.core.message import Message
from mqtt_kube.mqtt.connection import MqttConnection
from mqtt_kube.testing.certs import Certificates, make_certificates
from mqtt_kube.testing.mosquitto import BrokerTls, Mosquitto, free_port
from tests.support.broker_fixtures import MqttProbe, TcpProxy


class Inbox:
    """A message handler that keeps what it is given."""

    def __init__(self) -> None:
        self.messages: list[Message] = []

    def __call__(self, message: Message) -> None:
        self.messages.append(message)

    def payloads(self, topic: str) -> list[bytes]:
        return [m.payload for m in self.messages if m.topic == topic]


@contextlib.asynccontextmanager
async def running(connection: MqttConnection) -> AsyncIterator[asyncio.Task[None]]:
    """Run the connection in a task; close it (and see `run()` return) on the way out."""
    task = asyncio.create_task(connection.run(), name="mqtt under test")
    try:
        yield task
    finally:
        async with asyncio.timeout(5):
            await connection.close()
            await task


async def eventually(condition: Callable[[], bool], *, what: str, within: float = 5.0) -> None:
    """Wait until `condition()` holds; fail naming `what` after `within` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not condition():
        if loop.time() > deadline:
            raise AssertionError(f"not within {within:g} s: {what}")
        await asyncio.sleep(0.01)


async def retained(broker: Mosquitto, topic: str) -> Message:
    """What a newcomer subscribing to `topic` receives first."""
    async with MqttProbe.connect(broker, subscribe=[topic]) as probe:
        return await probe.next(topic)


# -- availability ----------------------------------------------------------------------


async def test_connecting_announces_online_retained_on_the_availability_topic(
    mqtt_settings: MqttSettings, mosquitto: Mosquitto
) -> None:
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    async with running(connection):
        assert await connection.wait_connected(5)
        assert connection.connected
        message = await retained(mosquitto, mqtt_settings.availability_topic)
        assert (message.payload, message.retain, message.qos) == (b"online", True, 1)


async def test_close_publishes_offline_retained_and_run_returns(
    mqtt_settings: MqttSettings, mosquitto: Mosquitto
) -> None:
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    async with running(connection) as task:
        assert await connection.wait_connected(5)
    assert task.done()
    assert not connection.connected
    message = await retained(mosquitto, mqtt_settings.availability_topic)
    assert (message.payload, message.retain) == (b"offline", True)


async def test_cancelling_run_without_close_still_leaves_offline(
    mqtt_settings: MqttSettings, mosquitto: Mosquitto
) -> None:
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    task = asyncio.create_task(connection.run())
    assert await connection.wait_connected(5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    message = await retained(mosquitto, mqtt_settings.availability_topic)
    assert message.payload == b"offline"


async def test_a_cut_link_makes_the_broker_publish_the_last_will_and_the_connection_returns(
    mqtt_settings: MqttSettings,
    mosquitto: Mosquitto,
    mqtt_probe: MqttProbe,
    caplog: pytest.LogCaptureFixture,
) -> None:
    status = mqtt_settings.availability_topic
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        connection = MqttConnection(
            dataclasses.replace(mqtt_settings, port=proxy.port), on_message=Inbox()
        )
        async with running(connection):
            assert await connection.wait_connected(5)
            assert await mqtt_probe.next_text(status) == "online"

            await proxy.cut()
            assert await mqtt_probe.next_text(status) == "offline"
            await eventually(lambda: not connection.connected, what="connection noticed the cut")
            assert await connection.publish(f"{mqtt_settings.topic_prefix}/x", "lost") is False

            await proxy.restore()
            assert await connection.wait_connected(5)
            assert await mqtt_probe.next_text(status) == "online"
            assert connection.stats.reconnects == 1
    assert "lost: the connection was closed by the broker or the network" in caplog.text


async def test_a_publish_waiting_for_its_ack_answers_false_as_soon_as_the_link_drops(
    mqtt_settings: MqttSettings, mosquitto: Mosquitto
) -> None:
    async with TcpProxy(mosquitto.host, mosquitto.port) as proxy:
        connection = MqttConnection(
            dataclasses.replace(mqtt_settings, port=proxy.port), on_message=Inbox()
        )
        async with running(connection):
            assert await connection.wait_connected(5)
            proxy.pause()
            publish = asyncio.create_task(
                connection.publish(f"{mqtt_settings.topic_prefix}/x", "stalled")
            )
            await asyncio.sleep(0.1)
            assert not publish.done()
            await proxy.cut()
            async with asyncio.timeout(2):  # aiomqtt alone would wait 10 s for the PUBACK
                assert await publish is False
            assert connection.stats.messages_out == 0


async def test_publish_before_any_connection_returns_false(mqtt_settings: MqttSettings) -> None:
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    assert await connection.publish("anything", "x") is False
    assert connection.stats.messages_out == 0


async def test_publish_reaches_the_broker_with_its_qos_and_retain_flag(
    mqtt_settings: MqttSettings, mosquitto: Mosquitto
) -> None:
    topic = f"{mqtt_settings.topic_prefix}/state"
    connection = MqttConnection(mqtt_settings, on_message=Inbox())
    async with running(connection):
        assert await connection.wait_connected(5)
        assert await connection.publish(topic, b"\x00bytes", qos=1, retain=True) is True
        message = await retained(mosquitto, topic)
        assert (message.payload, message.retain, message.qos) == (b"\x00bytes", True, 1)
        assert connection.stats.messages_out == 1


# -- receiving -------------------------------------------------------------------------


async def test_messages_arrive_on_topics_subscribed_before_and_during_run(
    mqtt_settings: MqttSettings, mqtt_probe: MqttProbe
) -> None:
    prefix = mqtt_settings.topic_prefix
    inbox = Inbox()
    connection = MqttConnection(mqtt_settings, on_message=inbox)
    connection.add_subscription(f"{prefix}/early/+", qos=1)
    async with running(connection):
        assert await connection.wait_connected(5)
        await mqtt_probe.publish(f"{prefix}/early/a", "one")
        await mqtt_probe.publish(f"{prefix}/late", "retained before", retain=True)
        connection.add_subscription(f"{prefix}/late")
        await eventually(
            lambda: inbox.payloads(f"{prefix}/late") == [b"retained before"],
            what="retained message on a topic subscribed during run()",
        )
        assert inbox.payloads(f"{prefix}/early/a") == [b"one"]
        late = next(m for m in inbox.messages if m.topic == f"{prefix}/late")
        assert (late.retain, late.qos) == (True, 1)
        assert connection.stats.messages_in == 2


async def test_a_payload_over_max_payload_is_dropped_with_a_warning(
    mqtt_settings: MqttSettings, mqtt_probe: MqttProbe, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"{mqtt_settings.topic_prefix}/cmd"
    inbox = Inbox()
    connection = MqttConnection(
        dataclasses.replace(mqtt_settings, max_payload=10), on_message=inbox
    )
    connection.add_subscription(topic)
    async with running(connection):
        assert await connection.wait_connected(5)
        await mqtt_probe.publish(topic, "x" * 11)
        await mqtt_probe.publish(topic, "y" * 10)
        await eventually(lambda: bool(inbox.messages), what="the 10-byte message")
    assert inbox.payloads(topic) == [b"y" * 10]
    assert connection.stats.dropped_oversize == 1
    assert f"message on {topic} dropped: 11 bytes is more than the 10 allowed" in caplog.text


async def test_a_failing_handler_is_logged_and_later_messages_still_arrive(
    mqtt_settings: MqttSettings, mqtt_probe: MqttProbe, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"{mqtt_settings.topic_prefix}/cmd"
    inbox = Inbox()

    def handler(message: Message) -> None:
        if message.payload == b"boom":
            raise RuntimeError("handler bug")
        inbox(message)

    connection = MqttConnection(mqtt_settings, on_message=handler)
    connection.add_subscription(topic)
    async with running(connection):
        assert await connection.wait_connected(5)
        await mqtt_probe.publish(topic, "boom")
        await mqtt_probe.publish(topic, "fine")
        await eventually(lambda: bool(inbox.messages), what="the message after the failure")
        assert connection.connected
    assert inbox.payloads(topic) == [b"fine"]
    assert f"handling the message on {topic} failed" in caplog.text


@pytest.mark.parametrize(
    ("topic", "qos", "problem"),
    [
        ("", 1, "Invalid wildcard"),
        ("a/#/b", 1, "Invalid wildcard"),
        ("a/b+", 1, "Invalid wildcard"),
        ("a/b", 3, "QoS for 'a/b' must be 0, 1 or 2"),
    ],
)
def test_a_bad_subscription_is_refused_naming_the_topic(topic: str, qos: int, problem: str) -> None:
    connection = MqttConnection(
        MqttSettings(client_id="c", availability_topic="c/status"), on_message=Inbox()
    )
    with pytest.raises(ValueError, match=problem):
        connection.add_subscription(topic, qos)


# -- reconnecting ----------------------------------------------------------------------


async def test_a_broker_restart_reconnects_resubscribes_and_runs_the_hooks_again(
    mqtt_settings: MqttSettings, mosquitto: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"{mqtt_settings.topic_prefix}/cmd"
    inbox = Inbox()
    hook_runs: list[bool] = []

    async def hook() -> None:
        hook_runs.append(connection.connected)

    connection = MqttConnection(mqtt_settings, on_message=inbox)
    connection.add_subscription(topic)
    connection.add_connect_hook(hook)
    async with running(connection):
        assert await connection.wait_connected(5)
        await eventually(lambda: hook_runs == [True], what="the hook after the first connect")

        mosquitto.restart()
        await eventually(lambda: connection.stats.reconnects == 1, what="a reconnect")
        assert await connection.wait_connected(5)
        await eventually(lambda: hook_runs == [True, True], what="the hook after reconnecting")

        async with MqttProbe.connect(mosquitto) as probe:
            await probe.publish(topic, "after restart")
        await eventually(
            lambda: inbox.payloads(topic) == [b"after restart"], what="message after restart"
        )
        assert (await retained(mosquitto, mqtt_settings.availability_topic)).payload == b"online"
    assert f"MQTT connection to {connection.endpoint} lost" in caplog.text


async def test_no_broker_means_a_warning_per_attempt_and_no_connection(
    mqtt_settings: MqttSettings, caplog: pytest.LogCaptureFixture
) -> None:
    connection = MqttConnection(
        dataclasses.replace(mqtt_settings, port=free_port()), on_message=Inbox()
    )
    async with running(connection):
        assert await connection.wait_connected(0.3) is False
    assert f"MQTT broker {connection.endpoint}: cannot connect:" in caplog.text
    assert "retrying in" in caplog.text


# -- authentication and TLS ------------------------------------------------------------


async def test_basic_auth_with_the_right_password_connects(
    mqtt_settings: MqttSettings,
) -> None:
    with Mosquitto(users={"kube": "s3cret-pass"}) as broker:
        settings = dataclasses.replace(
            mqtt_settings, port=broker.port, username="kube", password="s3cret-pass"
        )
        connection = MqttConnection(settings, on_message=Inbox())
        async with running(connection):
            assert await connection.wait_connected(5)


@pytest.mark.parametrize(("username", "password"), [("kube", "wrong-pass"), (None, None)])
async def test_refused_credentials_give_a_clear_warning_without_the_password(
    mqtt_settings: MqttSettings,
    caplog: pytest.LogCaptureFixture,
    username: str | None,
    password: str | None,
) -> None:
    with Mosquitto(users={"kube": "s3cret-pass"}) as broker:
        settings = dataclasses.replace(
            mqtt_settings, port=broker.port, username=username, password=password
        )
        connection = MqttConnection(settings, on_message=Inbox())
        async with running(connection):
            await eventually(lambda: "cannot connect" in caplog.text, what="a warning")
            assert not connection.connected
    assert "Not authorized (check mqtt.auth: username and password)" in caplog.text
    assert "wrong-pass" not in caplog.text


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """The broker's PKI; the client key is encrypted with `key-pass`."""
    return make_certificates(tmp_path_factory.mktemp("pki"), key_password="key-pass")


@pytest.fixture(scope="module")
def other_pki(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """An unrelated CA, as an attacker or a misconfiguration would present."""
    return make_certificates(tmp_path_factory.mktemp("other"), name="other")


def tls_broker(pki: Certificates, *, mutual: bool) -> Mosquitto:
    return Mosquitto(
        tls=BrokerTls(
            cafile=pki.cafile,
            certfile=pki.server_certfile,
            keyfile=pki.server_keyfile,
            require_certificate=mutual,
        )
    )


@pytest.mark.parametrize(
    ("ca", "insecure", "connects", "logged"),
    [
        ("right", False, True, None),
        ("other", False, False, "certificate verify failed"),
        ("system", False, False, "certificate verify failed"),
        ("other", True, True, "is not verified (mqtt.tls.insecure: true)"),
    ],
)
async def test_tls_verifies_the_broker_certificate(
    mqtt_settings: MqttSettings,
    pki: Certificates,
    other_pki: Certificates,
    caplog: pytest.LogCaptureFixture,
    ca: str,
    insecure: bool,
    connects: bool,
    logged: str | None,
) -> None:
    cafile = {"right": pki.cafile, "other": other_pki.cafile, "system": None}[ca]
    with tls_broker(pki, mutual=False) as broker:
        assert broker.tls_port is not None
        tls = TlsSettings(cafile=str(cafile) if cafile else None, insecure=insecure)
        settings = dataclasses.replace(mqtt_settings, port=broker.tls_port, tls=tls)
        connection = MqttConnection(settings, on_message=Inbox())
        async with running(connection):
            if connects:
                assert await connection.wait_connected(5)
            else:
                await eventually(lambda: "cannot connect" in caplog.text, what="a warning")
                assert not connection.connected
    if logged:
        assert logged in caplog.text


def mtls_settings(base: MqttSettings, broker: Mosquitto, pki: Certificates) -> MqttSettings:
    assert broker.tls_port is not None
    tls = TlsSettings(
        cafile=str(pki.cafile),
        certfile=str(pki.client_certfile),
        keyfile=str(pki.client_keyfile),
        keyfile_password=pki.client_key_password,
        protocols=("mqtt",),
    )
    return dataclasses.replace(base, port=broker.tls_port, tls=tls)


async def test_mtls_with_a_password_protected_key_connects_and_publishes(
    mqtt_settings: MqttSettings, pki: Certificates
) -> None:
    with tls_broker(pki, mutual=True) as broker:
        connection = MqttConnection(mtls_settings(mqtt_settings, broker, pki), on_message=Inbox())
        async with running(connection):
            assert await connection.wait_connected(5)
            assert await connection.publish(f"{mqtt_settings.topic_prefix}/x", "over mtls")
        message = await retained(broker, mqtt_settings.availability_topic)
        assert message.payload == b"offline"


async def test_mtls_refuses_a_broker_certificate_from_the_wrong_ca(
    mqtt_settings: MqttSettings,
    pki: Certificates,
    other_pki: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with tls_broker(pki, mutual=True) as broker:
        settings = mtls_settings(mqtt_settings, broker, pki)
        assert settings.tls is not None
        # our client certificate is good, but we trust another CA than the broker's
        tls = dataclasses.replace(settings.tls, cafile=str(other_pki.cafile))
        connection = MqttConnection(dataclasses.replace(settings, tls=tls), on_message=Inbox())
        async with running(connection):
            await eventually(lambda: "cannot connect" in caplog.text, what="a warning")
            assert not connection.connected
    assert "certificate verify failed" in caplog.text


async def test_a_wrong_key_password_names_the_files_but_not_the_password(
    mqtt_settings: MqttSettings, pki: Certificates, caplog: pytest.LogCaptureFixture
) -> None:
    with tls_broker(pki, mutual=True) as broker:
        settings = mtls_settings(mqtt_settings, broker, pki)
        assert settings.tls is not None
        settings = dataclasses.replace(
            settings, tls=dataclasses.replace(settings.tls, keyfile_password="not-the-pass")
        )
        connection = MqttConnection(settings, on_message=Inbox())
        async with running(connection):
            await eventually(lambda: "cannot connect" in caplog.text, what="a warning")
    assert f"cannot load TLS files (cafile={pki.cafile}" in caplog.text
    assert f"keyfile={pki.client_keyfile})" in caplog.text
    assert "not-the-pass" not in caplog.text


def test_certificates_are_written_as_pem_files(tmp_path: Path) -> None:
    files = make_certificates(tmp_path, key_password="pw")
    assert files.cafile.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert "ENCRYPTED PRIVATE KEY" in files.client_keyfile.read_text()
    assert "BEGIN PRIVATE KEY" in files.server_keyfile.read_text()
