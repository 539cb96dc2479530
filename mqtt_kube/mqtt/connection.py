"""The one long-lived MQTT connection: reconnects, availability, subscriptions, delivery.

aiomqtt gives a client that connects once; reconnecting is the caller's loop, and this module
is that loop (the only one). Each connection announces `online` (retained) on the
availability topic, with `offline` as its Last Will, subscribes to every topic asked for
so far, runs the after-connect hooks (republish state, discovery), and hands each incoming
message to one synchronous handler. Publishing never raises on a dropped link: it answers
False and the hooks republish after the next connect. The broker keeps the session, with the
QoS 1 commands it queues for us, across a drop of up to `session-expiry` seconds and no
longer (`mqtt_kube.mqtt.session` says how, for MQTT 5 and for 3.1.1).

It deliberately knows nothing about bindings or routing: the handler decides what a
message means, and it must not block (it runs in the receive loop, so nothing queues here).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import ssl
import time
from typing import Final

import aiomqtt
from aiomqtt.exceptions import MqttCodeError, MqttConnectError
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_kube.config.model import MqttSettings, TlsSettings
from mqtt_kube.core.backoff import Backoff
from mqtt_kube.core.message import ConnectHook, Message, MessageHandler
from mqtt_kube.mqtt.client import (
    Client,
    make_client,
    publish_through_paho,
    refused,
    settle_disconnect,
)
from mqtt_kube.mqtt.deadlines import Deadlines
from mqtt_kube.mqtt.publishes import answered
from mqtt_kube.mqtt.session import MQTT311, SessionPlan, SessionPolicy
from mqtt_kube.mqtt.stats import MqttStats
from mqtt_kube.mqtt.tls import tls_context

logger = logging.getLogger(__name__)

ONLINE: Final = "online"
OFFLINE: Final = "offline"
OFFLINE_TIMEOUT: Final = 2.0  # seconds to get `offline` acknowledged on close()
PUBLISH_TIMEOUT: Final = 10.0  # seconds for the broker to acknowledge a publish (as aiomqtt)
STABLE_SECONDS: Final = 10.0  # a connection that lasted this long resets the backoff
SUBSCRIBE_BATCH: Final = 100  # topics per SUBSCRIBE packet
# CONNACK codes that mean "these credentials": MQTT 3.1.1 (4, 5) and their MQTT 5 forms.
_AUTH_REFUSED: Final = frozenset({4, 5, 134, 135})
_UNSPECIFIED: Final = 128


class MqttConnection:
    """One broker session kept alive forever by `run()`; `close()` ends it cleanly."""

    def __init__(self, settings: MqttSettings, *, on_message: MessageHandler) -> None:
        self.settings = settings
        self.stats = MqttStats()
        self._on_message = on_message
        self._subscriptions: dict[str, int] = {}
        self._hooks: list[ConnectHook] = []
        self._client: Client | None = None  # set while connected
        self._up = asyncio.Event()
        self._new_topics = asyncio.Event()
        self._closing = asyncio.Event()
        self._stopped = asyncio.Event()
        self._running = False
        self._connections = 0
        self._warned_insecure = False
        self._session = SessionPolicy(settings.session_expiry)
        # Publishes waiting for their acknowledgement; cut short when the link drops.
        self._deadlines = Deadlines(PUBLISH_TIMEOUT)

    @property
    def endpoint(self) -> str:
        return f"{self.settings.host}:{self.settings.port}"

    @property
    def connected(self) -> bool:
        """True from `online` and the subscriptions until the link drops or closes."""
        return self._up.is_set()

    async def wait_connected(self, timeout: float | None = None) -> bool:  # noqa: ASYNC109 - the agreed API
        """Wait until connected; False if `timeout` seconds pass first."""
        try:
            async with asyncio.timeout(timeout):
                await self._up.wait()
        except TimeoutError:
            return False
        return True

    def add_subscription(self, topic: str, qos: int = 1) -> None:
        """Subscribe to `topic` now if connected, and again after every reconnect."""
        aiomqtt.Wildcard(topic)  # raises ValueError("Invalid wildcard: ...") for a bad filter
        if qos not in (0, 1, 2):
            raise ValueError(f"QoS for {topic!r} must be 0, 1 or 2, not {qos!r}")
        self._subscriptions[topic] = qos
        self._new_topics.set()

    def remove_subscription(self, topic: str) -> None:
        """No longer subscribe to `topic` (unsubscribed now if connected)."""
        if self._subscriptions.pop(topic, None) is not None:
            self._new_topics.set()

    def add_connect_hook(self, hook: ConnectHook) -> None:
        """Await `hook()` after every connect, once the subscriptions are in place."""
        self._hooks.append(hook)

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> bool:
        """Publish and wait for the broker (QoS 1+); False when not connected or cut off."""
        if await self.publish_soon(topic, payload, qos=qos, retain=retain):
            return True
        logger.debug("%s not published: no MQTT connection, refused, or no answer in time", topic)
        return False

    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]:
        """Start a publish; the future answers what `publish` would.

        For a caller that keeps many publishes in flight (the state board): a QoS 1
        publish is then a future and no task or coroutine of its own.
        """
        client = self._client
        if client is None or not self._up.is_set():
            return answered(False)
        if qos == 1:
            return client.publishes.send(topic, payload, retain=retain)
        return asyncio.ensure_future(
            publish_through_paho(client, topic, payload, qos=qos, retain=retain)
        )

    async def close(self) -> None:
        """Publish `offline`, disconnect cleanly and let `run()` return."""
        self._closing.set()
        if self._running:
            await self._stopped.wait()

    async def run(self) -> None:
        """Connect, and reconnect with backoff after every failure, until `close()`."""
        if self._running:
            raise RuntimeError("MqttConnection.run() is already running")
        self._running = True
        self._stopped.clear()
        backoff = Backoff()
        try:
            while not self._closing.is_set():
                started = time.monotonic()
                connections = self._connections
                failure: BaseException | None = None
                plan = self._session.plan()
                client: Client | None = None
                try:
                    if plan.discard_first:
                        await self._discard_session()
                    client = self._make_client(plan)
                    await self._serve(client, plan)
                except* aiomqtt.MqttError as group:
                    failure = group.exceptions[0]
                finally:
                    if client is not None:
                        settle_disconnect(client)
                if failure is None:
                    continue
                if self._closing.is_set():
                    break
                if self._session.refused_protocol(failure):
                    logger.info(
                        "MQTT broker %s does not speak MQTT 5; using MQTT 3.1.1, where "
                        "mqtt-kube ends a session %d s after a drop by itself",
                        self.endpoint,
                        self.settings.session_expiry,
                    )
                    continue
                lost = self._connections > connections
                if lost and time.monotonic() - started >= STABLE_SECONDS:
                    backoff.reset()
                delay = backoff.next_delay()
                if lost:
                    logger.warning(
                        "MQTT connection to %s lost: %s; reconnecting in %.1f s",
                        self.endpoint,
                        _reason(failure),
                        delay,
                    )
                else:
                    logger.warning(
                        "MQTT broker %s: cannot connect: %s; retrying in %.1f s",
                        self.endpoint,
                        _reason(failure),
                        delay,
                    )
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._closing.wait()
        finally:
            self._running = False
            self._stopped.set()

    async def _discard_session(self) -> None:
        """MQTT 3.1.1: make the broker drop the session it holds for our client-id."""
        async with self._make_client(SessionPlan(MQTT311, clean=True, expiry=0)):
            pass

    async def _serve(self, client: Client, plan: SessionPlan) -> None:
        """One connection: from CONNACK until the link drops or `close()` is called."""
        async with client:
            self._session.connected()
            self._connections += 1
            if self._connections > 1:
                self.stats.reconnects += 1
            link_lost = False
            try:
                if self._closing.is_set():
                    return
                await client.publish(self.settings.availability_topic, ONLINE, qos=1, retain=True)
                subscribed: dict[str, int] = {}
                self._new_topics.clear()
                await self._subscribe(client, subscribed)
                self._client = client
                self._up.set()
                logger.info(
                    "%s MQTT broker %s as %s (%s)",
                    "reconnected to" if self._connections > 1 else "connected to",
                    self.endpoint,
                    self.settings.client_id,
                    plan.protocol_name,
                )
                async with asyncio.TaskGroup() as group:
                    tasks = [
                        group.create_task(self._receive(client), name="mqtt receive"),
                        group.create_task(
                            self._keep_subscribed(client, subscribed), name="mqtt subscribe"
                        ),
                        group.create_task(self._run_hooks(), name="mqtt connect hooks"),
                    ]
                    await self._closing.wait()
                    for task in tasks:
                        task.cancel()
            except* aiomqtt.MqttError:
                link_lost = True
                raise
            finally:
                # On close() and on cancellation alike, say `offline` before the clean
                # DISCONNECT: a clean disconnect makes the broker discard the Last Will.
                self._up.clear()
                self._session.lost()
                if not link_lost:
                    await self._say_offline(client)
                self._drop_link()
        logger.info("disconnected from MQTT broker %s", self.endpoint)

    async def _say_offline(self, client: aiomqtt.Client) -> None:
        try:
            await client.publish(
                self.settings.availability_topic,
                OFFLINE,
                qos=1,
                retain=True,
                timeout=OFFLINE_TIMEOUT,
            )
        except aiomqtt.MqttError as exc:
            logger.debug("could not publish %s: %s", OFFLINE, exc)

    def _drop_link(self) -> None:
        """Forget the client, and make publishes still waiting on it answer False now."""
        self._up.clear()
        self._client = None
        self._deadlines.cut()

    async def _receive(self, client: aiomqtt.Client) -> None:
        try:
            async for raw in client.messages:
                self._deliver(raw)
        except aiomqtt.MqttError as exc:
            # aiomqtt says "Disconnected during message iteration"; the cause says why,
            # except that paho calls a closed socket "[code:128] Unspecified error".
            cause = exc.__cause__ or exc
            reason = str(cause)
            if isinstance(cause, MqttCodeError) and _code(cause.rc) == _UNSPECIFIED:
                reason = "the connection was closed by the broker or the network"
            raise aiomqtt.MqttError(reason) from exc

    def _deliver(self, raw: aiomqtt.Message) -> None:
        self.stats.messages_in += 1
        topic = raw.topic.value
        payload = raw.payload
        assert isinstance(payload, bytes | bytearray)  # paho always hands over bytes
        if len(payload) > self.settings.max_payload:
            self.stats.dropped_oversize += 1
            logger.warning(
                "message on %s dropped: %d bytes is more than the %d allowed",
                topic,
                len(payload),
                self.settings.max_payload,
            )
            return
        message = Message(topic=topic, payload=bytes(payload), retain=raw.retain, qos=raw.qos)
        try:
            self._on_message(message)
        except Exception:
            logger.exception("handling the message on %s failed", topic)

    async def _keep_subscribed(self, client: aiomqtt.Client, subscribed: dict[str, int]) -> None:
        """Subscribe to topics added while connected."""
        while True:
            await self._new_topics.wait()
            self._new_topics.clear()
            await self._subscribe(client, subscribed)

    async def _subscribe(self, client: aiomqtt.Client, subscribed: dict[str, int]) -> None:
        """Subscribe to wanted topics not yet in `subscribed`; unsubscribe unwanted ones."""
        if gone := [topic for topic in subscribed if topic not in self._subscriptions]:
            await client.unsubscribe(gone)
            for topic in gone:
                del subscribed[topic]
        wanted = [(t, q) for t, q in self._subscriptions.items() if subscribed.get(t) != q]
        for start in range(0, len(wanted), SUBSCRIBE_BATCH):
            batch = wanted[start : start + SUBSCRIBE_BATCH]
            codes: list[int | ReasonCode] = list(await client.subscribe(batch))
            for (topic, qos), code in zip(batch, codes, strict=True):
                if refused(code):
                    logger.warning("MQTT broker refused the subscription to %s: %s", topic, code)
                subscribed[topic] = qos

    async def _run_hooks(self) -> None:
        for hook in list(self._hooks):
            try:
                await hook()
            except Exception:
                name = getattr(hook, "__qualname__", None) or repr(hook)
                logger.exception("after-connect hook %s failed", name)

    def _make_client(self, plan: SessionPlan) -> Client:
        # A fresh client per attempt: aiomqtt 2.5 keeps its "connected" future after an
        # unexpected disconnect, so re-entering the same client would not wait for CONNACK.
        tls = self._tls_context(self.settings.tls) if self.settings.tls else None
        return make_client(
            self.settings,
            will_payload=OFFLINE,
            tls=tls,
            plan=plan,
            deadlines=self._deadlines,
            stats=self.stats,
        )

    def _tls_context(self, tls: TlsSettings) -> ssl.SSLContext:
        """Built for every attempt, so renewed certificate files are picked up."""
        context = tls_context(tls)
        if tls.insecure and not self._warned_insecure:
            self._warned_insecure = True
            logger.warning(
                "TLS to MQTT broker %s is not verified (mqtt.tls.insecure: true): "
                "anyone on the path can read and change the traffic",
                self.endpoint,
            )
        return context

    async def subscribe_once(self, topic: str, qos: int = 1) -> bool:
        """Subscribe on this connection only (discovery's scan); False when not connected."""
        client = self._client
        if client is None or not self._up.is_set():
            return False
        try:
            await client.subscribe(topic, qos=qos)
        except aiomqtt.MqttError as exc:
            logger.debug("subscription to %s failed: %s", topic, exc)
            return False
        return True

    async def unsubscribe(self, topic: str) -> None:
        """End a `subscribe_once` subscription; nothing to do when the link is down."""
        client = self._client
        if client is None or not self._up.is_set():
            return
        try:
            await client.unsubscribe(topic)
        except aiomqtt.MqttError as exc:
            logger.debug("unsubscribing from %s failed: %s", topic, exc)


def _reason(error: BaseException) -> str:
    """The text of a connection failure, with a hint when the credentials were refused."""
    if isinstance(error, MqttConnectError) and _code(error.rc) in _AUTH_REFUSED:
        return f"{error} (check mqtt.auth: username and password)"
    return str(error) or type(error).__name__


def _code(rc: int | ReasonCode | None) -> int | None:
    return rc.value if isinstance(rc, ReasonCode) else rc
