"""Build everything from a Config and run it until SIGTERM/SIGINT.

Root tasks (the MQTT connection, the state pump, the command workers, one task per shared
watch) run in one TaskGroup. A watch whose kind cannot be resolved yet (a CRD not
installed, an API error) keeps retrying on its own; it never stops the others. On a signal
the service publishes `offline`, closes the MQTT session and the watches, and returns.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import signal
import socket
import time
from collections.abc import Awaitable
from typing import Any, Final

from mqtt_kube import __version__
from mqtt_kube.bridge.binding import Binding
from mqtt_kube.bridge.commands import CommandRouter
from mqtt_kube.bridge.discover import Finders
from mqtt_kube.bridge.http import HttpServer
from mqtt_kube.bridge.live import LiveBindings
from mqtt_kube.bridge.metrics import CommandCounters, Sample, render_metrics
from mqtt_kube.bridge.reload import Reloader
from mqtt_kube.bridge.stateboard import StateBoard
from mqtt_kube.bridge.watchpool import WatchPool
from mqtt_kube.config.model import Config, WatchKey
from mqtt_kube.core.collector import built_for_good
from mqtt_kube.core.message import Message
from mqtt_kube.homeassistant.lifecycle import HomeAssistantDiscovery
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.kube.leader import (
    LeaderElector,
    LeadershipLost,
    LeaseTiming,
    lease_name,
    lease_namespace,
)
from mqtt_kube.kube.watch import ResourceWatch
from mqtt_kube.mqtt.connection import MqttConnection

logger = logging.getLogger(__name__)

SHUTDOWN_SECONDS: Final = 4.0
PROBE_EVERY: Final = 10.0  # seconds: /api/ready checks the API server at most this often


class Service:
    """One running mqtt-kube instance."""

    def __init__(
        self, config: Config, *, client: KubeClient, leader: LeaderElector | None = None
    ) -> None:
        self.client = client
        self.leader = leader
        self.counters = CommandCounters()
        self.router = CommandRouter(counters=self.counters)
        self.mqtt = MqttConnection(config.mqtt, on_message=self._on_message)
        self.board = StateBoard(self.mqtt)
        # Home Assistant discovery (homeassistant.lifecycle): configs on connect, birth, cleanup.
        self.discovery = (
            HomeAssistantDiscovery.from_config(config, mqtt=self.mqtt, board=self.board)
            if config.homeassistant is not None
            else None
        )
        self.pool = WatchPool(client)
        self.live = LiveBindings(
            config,
            client=client,
            board=self.board,
            counters=self.counters,
            router=self.router,
            mqtt=self.mqtt,
            pool=self.pool,
            discovery=self.discovery,
        )
        self.finders = Finders(config, live=self.live, pool=self.pool)
        self.reloader = Reloader(config, apply=self.apply)
        self._started = time.monotonic()
        self._fatal: str | None = None
        self._stop = asyncio.Event()
        # /api/ready asks for a check of the API server; the check runs in its own task.
        self._probe_wanted = asyncio.Event()
        self._probed_at = -math.inf
        self.probe_every = PROBE_EVERY
        self.api_unreachable: str | None = None
        self.http = HttpServer(config.http, self)
        self.mqtt.add_connect_hook(self.board.republish)

    @property
    def config(self) -> Config:
        """The file in use (the last one applied)."""
        return self.live.config

    @property
    def bindings(self) -> list[Binding]:
        """Every binding running now: the file's, then those discovery found."""
        return self.live.all

    @property
    def watches(self) -> dict[WatchKey, ResourceWatch | None]:
        return self.pool.watches

    def apply(self, config: Config) -> str:
        """Run a new file's bindings and discovery entries in place of the current ones."""
        explicit = self.live.explicit_objects()
        added, changed, removed = self.live.reload(config)
        self.finders.reload(config, rescan=explicit != self.live.explicit_objects())
        return f"{added} bindings added, {changed} changed, {removed} removed"

    def _on_message(self, message: Message) -> None:
        """Every received message goes to the command router and to discovery."""
        self.router.dispatch(message)
        if self.discovery is not None:
            self.discovery.on_message(message)

    def stop(self) -> None:
        """Ask `run` to shut down in order and return."""
        self._stop.set()

    async def run(self, *, handle_signals: bool = True) -> int:
        """Run until `stop()`, SIGTERM or SIGINT; the process exit status."""
        await self.http.start()  # first: a port in use stops it before anything connects
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
        for sig in signals:
            loop.add_signal_handler(sig, self.stop)
        try:
            if self.leader is not None and not await self._lead(self.leader):
                return 0
            async with asyncio.TaskGroup() as group:
                acting = [group.create_task(self.router.run(), name="command router")]
                self.pool.start(group)
                tasks = [
                    *acting,
                    group.create_task(self.reloader.run(handle_signals), name="reload"),
                    group.create_task(self.mqtt.run(), name="mqtt"),
                    group.create_task(self.board.run(), name="state publisher"),
                    group.create_task(self._probe_api(), name="API probe"),
                ]
                if self.leader is not None:
                    tasks.append(group.create_task(self._hold(self.leader), name="leadership"))
                if self.discovery is not None:
                    tasks.append(group.create_task(self.discovery.run(), name="discovery"))
                logger.info(
                    "mqtt-kube %s running: %d bindings, %d discover entries, %d watches, "
                    "%d command topics",
                    __version__,
                    len(self.bindings),
                    len(self.config.discover),
                    len(self.pool),
                    len(self.router.topics()),
                )
                await self._stop.wait()
                logger.info("stopping")
                if self._fatal is not None:
                    self.pool.stop()  # leadership lost: not one more command or watch
                    for task in acting:
                        task.cancel()
                await _bounded(self.mqtt.close(), seconds=SHUTDOWN_SECONDS / 2)
                self.pool.stop()
                for task in tasks:
                    task.cancel()
            if self.leader is not None:
                await _bounded(self.leader.release(), seconds=1.0)
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)
            await _bounded(self.http.stop(), seconds=1.0)
        return 1 if self._fatal else 0

    async def _lead(self, leader: LeaderElector) -> bool:
        """Wait for leadership; False when stopped while standing by."""
        acquire = asyncio.ensure_future(leader.acquire())
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
        for waiter in (acquire, stopped):
            waiter.cancel()
        return leader.is_leader

    async def _hold(self, leader: LeaderElector) -> None:
        """Renew leadership; when it is lost, stop acting at once and exit non-zero."""
        try:
            await leader.hold()
        except LeadershipLost as exc:
            self._fatal = str(exc)
            logger.error("%s; stopping so that only one replica acts", exc)
            self.stop()

    async def _probe_api(self) -> None:
        """Check that the API server takes new connections, each time /api/ready asks.

        An open watch stream says nothing of that: a server shutting down keeps serving
        it while it refuses every new request.
        """
        while True:
            await self._probe_wanted.wait()
            self._probe_wanted.clear()
            self.api_unreachable = await self.client.probe()
            self._probed_at = time.monotonic()

    # -- what the HTTP endpoints show ---------------------------------------------------

    def health(self) -> tuple[bool, str]:
        return (self._fatal is None, self._fatal or "ok")

    def readiness(self) -> list[str]:
        if self.leader is not None and not self.leader.is_leader:
            return ["standing by: another replica holds the leader Lease"]
        reasons = [] if self.mqtt.connected else ["MQTT is not connected"]
        if time.monotonic() - self._probed_at >= self.probe_every:
            self._probe_wanted.set()
        if self.api_unreachable is not None:
            reasons.append(f"Kubernetes API: {self.api_unreachable}")
        for key, watch in self.watches.items():
            if watch is None:
                reasons.append(f"watch of {key[0]} not started: kind not resolved yet")
            elif not (watch.synced and watch.healthy):
                reasons.append(f"watch {watch.label}: {watch.last_error or 'not synced yet'}")
        return reasons

    def status(self) -> dict[str, Any]:
        states = self.board.snapshot()
        bindings = []
        for binding in self.bindings:
            entry = binding.status()
            entry["topics"] = {w.topic: states.get(w.topic) for w in binding.spec.watch}
            bindings.append(entry)
        return {
            "version": __version__,
            "uptime_seconds": round(time.monotonic() - self._started, 1),
            "config": self.reloader.status(),
            "mqtt": {"connected": self.mqtt.connected, "client_id": self.config.mqtt.client_id},
            "ready": not self.readiness(),
            "bindings": bindings,
        }

    def metrics(self) -> str:
        live = [w for w in self.watches.values() if w is not None]
        stats = self.mqtt.stats
        counters: list[Sample] = [
            ("messages_in", "MQTT messages received", float(stats.messages_in)),
            ("messages_out", "MQTT messages published", float(stats.messages_out)),
            (
                "messages_oversize",
                "MQTT messages dropped as too large",
                float(stats.dropped_oversize),
            ),
            ("mqtt_reconnects", "MQTT reconnections", float(stats.reconnects)),
            ("api_errors", "Kubernetes API errors", float(self.client.api_errors)),
            (
                "watch_restarts",
                "Watch streams reopened after an error",
                float(sum(w.restarts for w in live)),
            ),
            ("watch_relists", "Lists after 410 Gone", float(sum(w.relists for w in live))),
            ("watch_events", "Watch events received", float(sum(w.events for w in live))),
            (
                "watch_value_errors",
                "Watched values their value map could not take",
                float(sum(b.watch_value_errors for b in self.bindings)),
            ),
            *self.counters.samples(),
        ]
        gauges: list[Sample] = [
            ("mqtt_connected", "1 while connected to the broker", float(self.mqtt.connected)),
            ("watches", "Shared watches running", float(len(live))),
            (
                "bindings",
                "Bindings running (the file's and those discovered)",
                float(len(self.bindings)),
            ),
            ("discovered", "Bindings of objects discovery found", float(len(self.live.found))),
        ]
        return render_metrics(counters=counters, gauges=gauges)


async def _bounded(work: Awaitable[None], *, seconds: float) -> None:
    try:
        async with asyncio.timeout(seconds):
            await work
    except TimeoutError:
        logger.warning("shutdown step took longer than %.1f s; going on", seconds)


async def run(config: Config, *, leader_elect: bool = False) -> int:
    """Connect to the Kubernetes API and run until SIGTERM/SIGINT; the exit status."""
    for warning in config.warnings:
        logger.warning("%s", warning)
    timing = LeaseTiming.from_env() if leader_elect else None
    client = await KubeClient.connect(config.kubernetes)
    leader = None
    if timing is not None:
        leader = LeaderElector(
            client,
            namespace=lease_namespace(),
            name=lease_name(config.mqtt.client_id),
            identity=f"{socket.gethostname()}-{os.getpid()}",
            timing=timing,
        )
    try:
        with built_for_good():  # the bindings live as long as the process
            service = Service(config, client=client, leader=leader)
        return await service.run()
    finally:
        await client.close()
