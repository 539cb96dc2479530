"""The HTTP endpoints: liveness, readiness, status and Prometheus metrics.

Liveness (`/api/health`) only says the event loop turns and nothing is fatally broken —
a broker outage alone must not make Kubernetes restart the pod. Readiness (`/api/ready`)
says MQTT is connected and every watch has synced, with the reasons when it is not.
"""

from __future__ import annotations

import logging
from typing import Any, Protocol

from aiohttp import web

from mqtt_kube.config import HttpSettings

logger = logging.getLogger(__name__)


class Observable(Protocol):
    """What the endpoints ask of the running service."""

    def health(self) -> tuple[bool, str]: ...

    def readiness(self) -> list[str]: ...  # reasons it is not ready; empty when ready

    def status(self) -> dict[str, Any]: ...

    def metrics(self) -> str: ...


_SERVICE = web.AppKey("service", Observable)
_LIMIT = web.AppKey("max_connections", int)
_RUNNER = web.AppKey("runner", web.AppRunner)


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


@web.middleware
async def _limit_connections(request: web.Request, handler: Any) -> web.StreamResponse:
    server = request.app[_RUNNER].server
    if server is not None and len(server.connections) > request.app[_LIMIT]:
        raise web.HTTPServiceUnavailable(
            text="too many connections\n", headers={"Connection": "close"}
        )
    response: web.StreamResponse = await handler(request)
    return response


def build_app(service: Observable, *, max_connections: int) -> web.Application:
    app = web.Application(middlewares=[_limit_connections])
    app[_SERVICE] = service
    app[_LIMIT] = max_connections
    app.router.add_get("/api/health", _health)
    app.router.add_get("/api/ready", _ready)
    app.router.add_get("/api/status", _status)
    app.router.add_get("/metrics", _metrics)
    return app


class HttpServer:
    """The endpoints on `http.bind`:`http.port`, started and stopped by the service."""

    def __init__(self, settings: HttpSettings, service: Observable) -> None:
        self._settings = settings
        self._app = build_app(service, max_connections=settings.max_connections)
        self._runner = web.AppRunner(
            self._app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        self._app[_RUNNER] = self._runner
        self.port = settings.port

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.bind, self._settings.port)
        await site.start()
        if self._runner.addresses:  # the port actually bound, when 0 was asked for
            self.port = int(self._runner.addresses[0][1])
        logger.info("HTTP endpoints on http://%s:%s/api/health", self._settings.bind, self.port)

    async def stop(self) -> None:
        await self._runner.cleanup()
