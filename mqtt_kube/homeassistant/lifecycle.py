"""Home Assistant discovery at run time: announce, keep announced, clean up.

`mqtt_kube.homeassistant.plan` says what to announce; this module makes the broker hold exactly
that. After every (re)connect it looks at what the broker retains under this instance's
node id (`<prefix>/+/<node_id>/+/config`), publishes the configs that are missing or
different (retained, QoS 1) and clears, with an empty retained payload, every config of
this instance that the configuration no longer produces — a removed binding, one whose
discovery was turned off, an entity whose component changed. Configs of other producers
are left alone: only topics under this node id whose payload carries this instance's
unique_id prefix are ever cleared.

Home Assistant subscribes to an entity's state topic only once it has read the entity's
config, so a state published before the configs (the state board publishes every state
after each connect) never reaches a new or changed entity unless it is retained. So
whenever configs have just gone out — some were missing or different on the broker, or
Home Assistant says `online` on its birth topic (it has just (re)started and every config
is published again) — every current state follows once its entities have had a moment to
subscribe (the state board's job).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterable, Mapping
from typing import Final, Protocol

from mqtt_kube.config.model import Config
from mqtt_kube.core.message import ConnectHook, Message
from mqtt_kube.core.window import send_windowed
from mqtt_kube.homeassistant.plan import DiscoveryPlan, build_plan

logger = logging.getLogger(__name__)

SCAN_SECONDS: Final = 2.0  # longest wait for the broker's retained configs
STATE_DELAY_SECONDS: Final = 3.0  # configs, this pause for Home Assistant to subscribe, states
BIRTH_ONLINE: Final = b"online"
_MARKER: Final = "online"  # republished on the availability topic: the end of the scan
_WINDOW: Final = 64  # configs changed at run time in flight at once


class MqttLink(Protocol):
    """What discovery needs from the MQTT connection."""

    def add_subscription(self, topic: str, qos: int = 1) -> None: ...

    def add_connect_hook(self, hook: ConnectHook) -> None: ...

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> bool: ...

    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]: ...

    async def subscribe_once(self, topic: str, qos: int = 1) -> bool: ...

    async def unsubscribe(self, topic: str) -> None: ...


class StateSource(Protocol):
    """What discovery needs from the state board."""

    async def republish(self, topics: Iterable[str] | None = None) -> None: ...


class HomeAssistantDiscovery:
    """Keeps this instance's discovery configs on the broker; reacts to Home Assistant's birth."""

    def __init__(
        self,
        plan: DiscoveryPlan,
        *,
        mqtt: MqttLink,
        board: StateSource,
        birth_topic: str,
        availability_topic: str,
        scan_seconds: float = SCAN_SECONDS,
        state_delay: float = STATE_DELAY_SECONDS,
    ) -> None:
        self.plan = plan
        self._mqtt = mqtt
        self._board = board
        self._birth_topic = birth_topic
        self._availability_topic = availability_topic
        self._scan_seconds = scan_seconds
        self._state_delay = state_delay
        self._configs = plan.messages()
        self._pending: dict[str, str] = {}  # changed at run time, to publish ("" clears)
        self._pending_states: set[str] = set()  # of the entities just announced
        self._retained: dict[str, str] = {}  # what the broker holds, seen during a scan
        self._scanning = False
        self._marker = asyncio.Event()
        self._connected = False
        self._born = False
        self._wake = asyncio.Event()
        self.scans = 0  # completed reconciliations, for tests and /metrics
        self.state_rounds = 0  # times every state followed the configs, for tests
        self.changes = 0  # configs published or cleared at run time
        mqtt.add_subscription(birth_topic, qos=1)
        mqtt.add_connect_hook(self.on_connect)

    @classmethod
    def from_config(
        cls,
        config: Config,
        *,
        mqtt: MqttLink,
        board: StateSource,
        state_delay: float = STATE_DELAY_SECONDS,
    ) -> HomeAssistantDiscovery:
        """The lifecycle for a configuration with `homeassistant:` set."""
        if config.homeassistant is None:
            raise ValueError("Home Assistant discovery is off in this configuration")
        plan = build_plan(config)
        for note in plan.notes:
            logger.warning("discovery: %s", note)
        return cls(
            plan,
            mqtt=mqtt,
            board=board,
            birth_topic=config.homeassistant.birth_topic,
            availability_topic=config.mqtt.availability_topic,
            state_delay=state_delay,
        )

    def change(self, configs: Mapping[str, str | None], *, states: Iterable[str] = ()) -> None:
        """Configs added or changed (a payload) or removed (None) while running (a reload, a
        found object); `run` publishes them, then, a moment later, the `states` topics."""
        for topic, payload in configs.items():
            if payload is None:
                self._configs.pop(topic, None)
            else:
                self._configs[topic] = payload
            self._pending[topic] = payload or ""
        self._pending_states.update(states)
        self._wake.set()

    async def on_connect(self) -> None:
        """After-connect hook: reconcile the broker's configs (in `run`, not here)."""
        self._connected = True
        self._wake.set()

    def on_message(self, message: Message) -> None:
        """Every received message passes here; never blocks."""
        if message.topic == self._birth_topic:
            self._on_birth(message)
        elif self._scanning and message.topic == self._availability_topic:
            if not message.retain:
                self._marker.set()
        elif self._scanning and self.plan.owns(message.topic):
            payload = message.payload.decode("utf-8", errors="replace")
            if payload:
                self._retained[message.topic] = payload
            else:
                self._retained.pop(message.topic, None)

    def _on_birth(self, message: Message) -> None:
        if message.retain:
            # A birth kept on the broker is old news, not a Home Assistant that just started.
            return
        if message.payload.strip().lower() == BIRTH_ONLINE:
            logger.info("Home Assistant is online: announcing %d entities", len(self._configs))
            self._born = True
            self._wake.set()

    async def run(self) -> None:
        """Forever: reconcile after each connect, re-announce after each birth, publish what
        changed at run time; states follow the configs a moment later, without holding up
        the next change."""
        async with asyncio.TaskGroup() as later:
            while True:
                await self._wake.wait()
                self._wake.clear()
                announced = False
                if self._connected:
                    self._connected = False
                    announced = await self.reconcile() > 0
                if self._born:
                    self._born = False
                    await self.announce()
                    announced = True
                states = await self._flush()
                if announced:
                    later.create_task(self._states_after(None))
                elif states:
                    later.create_task(self._states_after(states))

    async def _states_after(self, topics: set[str] | None) -> None:
        """Every state (None) or these, once Home Assistant has read the configs."""
        await asyncio.sleep(self._state_delay)
        await self._board.republish(topics)
        if topics is None:
            self.state_rounds += 1

    async def _flush(self) -> set[str]:
        """Publish the configs changed at run time; the state topics that should follow.

        A publish that fails (the link is down) is left to the reconciliation after the
        next connect, which works from every current config."""
        pending, self._pending = self._pending, {}
        states, self._pending_states = self._pending_states, set()

        def send(config: tuple[str, str]) -> asyncio.Future[bool]:
            return self._mqtt.publish_soon(config[0], config[1], qos=1, retain=True)

        await send_windowed(list(pending.items()), send, width=_WINDOW)
        if pending:
            self.changes += len(pending)
            logger.info("discovery: %d configs changed at run time", len(pending))
        return states

    async def reconcile(self) -> int:
        """Make the broker hold exactly this instance's configs; skip those already there.

        Returns how many configs were published (missing or different on the broker).
        """
        retained = await self._scan()
        if retained is None:
            return 0
        published = skipped = 0
        configs = dict(self._configs)  # changes while this runs are published after it
        for topic, payload in configs.items():
            if self._pending.get(topic) == payload:
                del self._pending[topic]  # this publishes it
            if retained.get(topic) == payload:
                skipped += 1
            elif await self._mqtt.publish(topic, payload, qos=1, retain=True):
                published += 1
        cleared = 0
        for topic, payload in retained.items():
            if topic in configs or topic in self._configs:
                continue
            if not self._is_ours(payload):
                logger.info("discovery: leaving %s alone: not a config of this instance", topic)
                continue
            if await self._mqtt.publish(topic, "", qos=1, retain=True):
                cleared += 1
                logger.info("discovery: removed stale %s", topic)
        self.scans += 1
        logger.info(
            "discovery: %d configs published, %d unchanged, %d stale removed",
            published,
            skipped,
            cleared,
        )
        return published

    async def announce(self) -> None:
        """Publish every config again, changed or not (Home Assistant has just started)."""
        for topic, payload in list(self._configs.items()):
            await self._mqtt.publish(topic, payload, qos=1, retain=True)

    async def _scan(self) -> dict[str, str] | None:
        """What the broker retains under this node id; None when the link is down."""
        self._retained = {}
        self._marker.clear()
        self._scanning = True
        topics = (self.plan.config_filter, self._availability_topic)
        try:
            for topic in topics:
                if not await self._mqtt.subscribe_once(topic, qos=1):
                    return None
            # Retained messages come right after each subscription; a message published
            # after both comes back behind them, so its echo ends the scan early.
            await self._mqtt.publish(self._availability_topic, _MARKER, qos=1, retain=True)
            try:
                async with asyncio.timeout(self._scan_seconds):
                    await self._marker.wait()
            except TimeoutError:
                logger.debug("discovery: scan ended by its time limit")
            return dict(self._retained)
        finally:
            self._scanning = False
            for topic in topics:
                await self._mqtt.unsubscribe(topic)

    def _is_ours(self, payload: str) -> bool:
        try:
            document = json.loads(payload)
        except ValueError:
            return False
        if not isinstance(document, dict):
            return False
        unique_id = document.get("unique_id")
        return isinstance(unique_id, str) and unique_id.startswith(self.plan.owner)
