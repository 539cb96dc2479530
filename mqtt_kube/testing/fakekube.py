"""A fake Kubernetes API server that the real kubernetes_asyncio client talks to.

mqtt-kube's tests, `make bench` and `make demo` need a Kubernetes API without a cluster.
`FakeKube` serves plain HTTP on a loopback port and behaves like the real API server where
mqtt-kube depends on it: discovery, list (in pages) and watch with resourceVersions,
bookmarks and 410 Expired, create/replace/patch/delete with the real error `Status` bodies,
the fields each kind really has (`fieldValidation`), /scale and /status only where the kind
has them, bearer tokens that expire, and a toy controller that fills in status. Tests drive
it directly (`put`, `patch`, `delete`, `complete_job`), observe it (`requests`,
`open_watches`) and disturb it (`fail_next`, `hang`, `compact`, `cut_watches`, `latency`,
`expire_token`, `refuse_connections`).

It deliberately has no authorization rules, no admission beyond what mqtt-kube relies on
(names, replicas, known fields), no pods, and no persistence: everything lives in memory.

Run it alone for demos: `python -m mqtt_kube.testing.fakekube_cli --port 8081 --objects x.yaml`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import yaml
from aiohttp import web

from mqtt_kube.testing.fakekube_admission import known_fields_only
from mqtt_kube.testing.fakekube_controller import Controller
from mqtt_kube.testing.fakekube_http import KubeHttp
from mqtt_kube.testing.fakekube_ops import copy_json
from mqtt_kube.testing.fakekube_ops import merge_patch as apply_merge_patch
from mqtt_kube.testing.fakekube_requests import RecordedRequest
from mqtt_kube.testing.fakekube_resources import Resource, StatusError
from mqtt_kube.testing.fakekube_schema import ANY, schema_tree
from mqtt_kube.testing.fakekube_store import Store

__all__ = ["FakeKube", "RecordedRequest", "StatusError"]

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]

HOST: Final = "127.0.0.1"
DEFAULT_BEARER: Final = "fakekube"  # the bearer token write_kubeconfig uses when any is accepted
SHUTDOWN_TIMEOUT: Final = 1.0


def _copy(obj: JsonObject) -> JsonObject:
    """A copy the caller may change without touching the server's state."""
    copied: JsonObject = copy_json(obj)
    return copied


def _strictly(resource: Resource, obj: JsonObject, *, patch: bool) -> JsonObject:
    """`obj`, refused when it has a field its kind does not (what `put` and `patch` allow)."""
    checked, _ = known_fields_only(
        obj,
        tree=resource.tree,
        kind=resource.kind,
        version=resource.version,
        directive="Strict",
        patch=patch,
    )
    return checked


class FakeKube(KubeHttp):
    """An in-memory Kubernetes API server on 127.0.0.1; `async with FakeKube() as fake:`."""

    def __init__(
        self,
        *,
        token: str | None = None,
        controller: bool = True,
        controller_delay: float = 0.05,
        bookmark_interval: float = 1.0,
        history_limit: int = 10_000,
    ) -> None:
        """Describe the server; nothing listens until `start()`.

        With `token` (or once `issue_token` is called), requests without a valid
        `Authorization: Bearer <token>` get 401. Watches asked to allow bookmarks get one
        every `bookmark_interval` seconds. A watch may resume from any of the last
        `history_limit` events.
        """
        super().__init__(Store(history_limit=history_limit), token=token)
        self.bookmark_interval = bookmark_interval
        self.url = ""
        self._controller = Controller(self.store, delay=controller_delay)
        self._controller.enabled = controller
        self._runner: web.AppRunner | None = None
        self._listener: asyncio.Server | None = None
        self._address: tuple[str, int] = (HOST, 0)
        self._bookmarks: asyncio.Task[None] | None = None

    # Lifecycle

    async def start(self, host: str = HOST, port: int = 0) -> str:
        """Listen on `host`:`port` (0: a free port); returns the base URL, also `self.url`."""
        if self._runner is not None:
            raise RuntimeError(f"the fake API server already runs on {self.url}")
        # handler_cancellation: a client that closes its watch ends the stream's handler.
        runner = web.AppRunner(
            self.make_app(),
            handle_signals=False,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            handler_cancellation=True,
        )
        await runner.setup()
        self._runner = runner
        self._address = (host, port)
        await self.accept_connections()
        self.url = f"http://{self._address[0]}:{self._address[1]}"
        if self.bookmark_interval > 0:
            self._bookmarks = asyncio.create_task(self._tick_bookmarks(), name="fakekube-bookmarks")
        if self._controller.enabled:
            self._controller.catch_up()
        logger.info("fake Kubernetes API server on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Answer held requests, cut every watch stream, then stop listening."""
        self._controller.cancel()
        if self._bookmarks is not None:
            self._bookmarks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bookmarks
            self._bookmarks = None
        self.release_hung()
        await self.cut_watches()
        self.refuse_connections()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def refuse_connections(self) -> None:
        """Stop accepting connections (they are refused); the open ones go on being served."""
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    async def accept_connections(self) -> None:
        """Listen again, on the same address, after `refuse_connections()`."""
        if self._runner is None:
            raise RuntimeError("start the fake API server first")
        if self._listener is None:
            server = self._runner.server
            assert server is not None  # set up by start()
            self._listener = await asyncio.get_running_loop().create_server(
                server, *self._address, family=socket.AF_INET, reuse_address=True
            )
            self._address = self._listener.sockets[0].getsockname()[:2]

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _tick_bookmarks(self) -> None:
        while True:
            await asyncio.sleep(self.bookmark_interval)
            self.send_bookmarks()

    def write_kubeconfig(
        self,
        path: Path | str,
        *,
        namespace: str = "default",
        user: JsonObject | None = None,
    ) -> Path:
        """Write a kubeconfig pointing at this server (current context, bearer token).

        `user` replaces the user entry (an `exec` plugin, a `tokenFile`, ...).
        """
        if not self.url:
            raise RuntimeError("start the fake API server before writing its kubeconfig")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fakekube", "cluster": {"server": self.url}}],
            "users": [
                {"name": "fakekube", "user": user or {"token": self.token or DEFAULT_BEARER}}
            ],
            "contexts": [
                {
                    "name": "fakekube",
                    "context": {"cluster": "fakekube", "user": "fakekube", "namespace": namespace},
                }
            ],
            "current-context": "fakekube",
            "preferences": {},
        }
        target = Path(path)
        target.write_text(yaml.safe_dump(config, sort_keys=False))
        return target

    # Settings that may change while serving

    @property
    def controller(self) -> bool:
        """Whether the toy controller runs; switching it on catches up at once."""
        return self._controller.enabled

    @controller.setter
    def controller(self, value: bool) -> None:
        self._controller.enabled = value

    @property
    def controller_delay(self) -> float:
        return self._controller.delay

    @controller_delay.setter
    def controller_delay(self, value: float) -> None:
        self._controller.delay = value

    @property
    def history_limit(self) -> int:
        return self.store.history_limit

    # Credentials

    def issue_token(self, *, lifetime: float | None = None) -> str:
        """A new bearer token the server accepts, for `lifetime` seconds or until expired.

        From the first one on, requests without a valid token get 401.
        """
        return self.tokens.issue(lifetime=lifetime)

    def expire_token(self, token: str) -> None:
        """Refuse `token` (401) from now on, as an expired credential is."""
        self.tokens.expire(token)

    # Resources, history and bookmarks

    def add_resource(
        self,
        *,
        group: str,
        version: str,
        kind: str,
        plural: str,
        namespaced: bool = True,
        status: bool = True,
        scale: bool = False,
        schema: JsonObject | None = None,
    ) -> None:
        """Serve a custom resource as a CRD would: /status (`subresources.status`) and /scale
        when asked, its fields from `schema` (an `openAPIV3Schema`; None keeps every field,
        as `x-kubernetes-preserve-unknown-fields: true` on the whole object would)."""
        if not group or not version or not kind or not plural:
            raise ValueError("add_resource needs a group, a version, a kind and a plural")
        self.store.add(
            Resource(
                group=group,
                version=version,
                kind=kind,
                plural=plural,
                namespaced=namespaced,
                status=status,
                scale=scale,
                custom=True,
                tree=ANY if schema is None else schema_tree(schema),
            )
        )

    @property
    def resource_version(self) -> str:
        """The current global resourceVersion."""
        return self.store.resource_version

    def compact(self) -> None:
        """Forget the history: resuming a watch from an older version gets 410 Expired."""
        self.store.compact()

    def send_bookmarks(self) -> None:
        """Send a BOOKMARK now on every watch that allows them."""
        self.store.send_bookmarks()

    # Direct state access: each call emits the watch events a request would

    def put(self, obj: JsonObject) -> JsonObject:
        """Create or replace an object (status included); apiVersion and kind pick the resource.

        A field its kind does not have is refused (400), as a strict request would be.
        """
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise StatusError.bad_request(f"put(): the object needs apiVersion and kind: {obj!r}")
        resource = self.store.by_kind(api_version, kind)
        body = _strictly(resource, _copy(obj), patch=False)
        metadata = body.get("metadata") or {}
        name = metadata.get("name")
        namespace = metadata.get("namespace") or "default"
        if name and self.store.get(resource, namespace, name) is not None:
            stored = self.store.update(
                resource, namespace, name, body, part="all", check_version=False
            )
        else:
            stored = self.store.create(resource, body, namespace=None, keep_status=True)
        return _copy(stored)

    def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> JsonObject | None:
        """A copy of the object, or None."""
        found = self.store.get(self.store.by_kind(api_version, kind), namespace, name)
        return None if found is None else _copy(found)

    def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Delete the object; False when there was none."""
        resource = self.store.by_kind(api_version, kind)
        if self.store.get(resource, namespace, name) is None:
            return False
        self.store.delete(resource, namespace, name)
        return True

    def patch(
        self,
        api_version: str,
        kind: str,
        namespace: str | None,
        name: str,
        merge_patch: JsonObject,
    ) -> JsonObject:
        """Apply a JSON merge patch (status included); raises StatusError 404 when missing."""
        resource = self.store.by_kind(api_version, kind)
        current = self.store.get(resource, namespace, name)
        if current is None:
            raise StatusError.not_found(resource, name)
        patched = apply_merge_patch(current, merge_patch)
        assert isinstance(patched, dict)  # a dict patched with a dict stays a dict
        patched = _strictly(resource, patched, patch=True)
        stored = self.store.update(
            resource, namespace, name, patched, part="all", check_version=False
        )
        return _copy(stored)

    def objects(
        self, api_version: str, kind: str, namespace: str | None = None
    ) -> list[JsonObject]:
        """Copies of every object of a kind, in one namespace or all, sorted by namespace/name."""
        resource = self.store.by_kind(api_version, kind)
        return [_copy(obj) for obj in self.store.items(resource, namespace)]

    def complete_job(self, namespace: str, name: str) -> JsonObject:
        """Finish a Job successfully: succeeded=1, completionTime, a Complete condition."""
        return _copy(self._controller.finish_job(namespace, name, succeeded=True))

    def fail_job(self, namespace: str, name: str) -> JsonObject:
        """Finish a Job in failure: failed=1 and a Failed condition."""
        return _copy(self._controller.finish_job(namespace, name, succeeded=False))
