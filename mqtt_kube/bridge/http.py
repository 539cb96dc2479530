"""The HTTP endpoints: liveness, readiness, status and Prometheus metrics.

Liveness (`/api/health`) only says the event loop turns and nothing is fatally broken —
a broker outage alone must not make Kubernetes restart the pod. Readiness (`/api/ready`)
says MQTT is connected and every watch has synced, with the reasons when it is not.

`http.max-connections` caps the open connections, idle ones included, where they are
accepted: a connection beyond the cap closes the oldest one. A flood of idle sockets
therefore cannot lock the kubelet's probes out; it only shortens how long sockets stay
open.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any, Protocol

from aiohttp import web

from mqtt_kube.config.model import HttpSettings
from mqtt_kube.core.errors import MqttKubeError

logger = logging.getLogger(__name__)


class Observable(Protocol):
    """What the endpoints ask of the running service."""

    def health(self) -> tuple[bool, str]: ...

    def readiness(self) -> list[str]: ...  # reasons it is not ready; empty when ready

    def status(self) -> dict[str, Any]: ...

    def metrics(self) -> str: ...


_SERVICE = web.AppKey("service", Observable)


class HttpError(MqttKubeError):
    """The endpoints cannot be served, e.g. the port is taken."""


async def _health(request: web.Request) -> web.Response:
    alive, reason = request.app[_SERVICE].health()
    return web.json_response({"healthy": alive, "reason": reason}, status=200 if alive else 503)


async def _ready(request: web.Request) -> web.Response:
    reasons = request.app[_SERVICE].readiness()
    return web.json_response(
        {"ready": not reasons, "reasons": reasons}, status=503 if reasons else 200
    )


async def _status(request: web.Request) -> web.Response:
    return web.json_response(request.app[_SERVICE].status())


async def _metrics(request: web.Request) -> web.Response:
    return web.Response(
        text=request.app[_SERVICE].metrics(), content_type="text/plain", charset="utf-8"
    )


def build_app(service: Observable) -> web.Application:
    app = web.Application()
    app[_SERVICE] = service
    app.router.add_get("/api/health", _health)
    app.router.add_get("/api/ready", _ready)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/metrics", _metrics)
    return app


class HttpServer:
    """The endpoints on `http.bind`:`http.port`, started and stopped by the service."""

    def __init__(self, settings: HttpSettings, service: Observable) -> None:
        self._settings = settings
        self._runner = web.AppRunner(
            build_app(service), handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        self._listener: asyncio.Server | None = None
        self.port = settings.port

    async def start(self) -> None:
        """Listen; raises HttpError (naming bind:port) when that is not possible."""
        await self._runner.setup()
        bind, port = self._settings.bind, self._settings.port
        try:
            self._listener = await asyncio.get_running_loop().create_server(
                self._accept, bind, port
            )
        except OSError as exc:
            await self._runner.cleanup()
            reason = os.strerror(exc.errno) if exc.errno else str(exc)  # not asyncio's wording
            raise HttpError(f"HTTP endpoints: cannot listen on {bind}:{port}: {reason}") from exc
        self.port = int(self._listener.sockets[0].getsockname()[1])  # the one bound for port 0
        logger.info("HTTP endpoints on http://%s:%s/api/health", bind, self.port)

    def _accept(self) -> asyncio.Protocol:
        server = self._runner.server
        assert server is not None  # set up in start(), before listening
        return _Admission(server, self._settings.max_connections)

    async def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        await self._runner.cleanup()
        if self._listener is not None:
            await self._listener.wait_closed()


class _Admission(asyncio.Protocol):
    """The first protocol of an accepted connection: makes room, then hands it to aiohttp.

    Connections are admitted one at a time, in the order they were accepted, so the count
    of open ones is exact even when many arrive at once.
    """

    def __init__(self, server: web.Server, limit: int) -> None:
        self._server = server
        self._limit = limit

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        open_ones = [
            handler
            for handler in self._server.connections  # oldest first
            if handler.transport is not None and not handler.transport.is_closing()
        ]
        for handler in open_ones[: max(0, len(open_ones) - self._limit + 1)]:
            handler.force_close()
        handler = self._server()
        transport.set_protocol(handler)
        handler.connection_made(transport)
