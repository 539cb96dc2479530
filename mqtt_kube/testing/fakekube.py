"""A fake Kubernetes API server that the real kubernetes_asyncio client talks to.

mqtt-kube's tests, `make bench` and `make demo` need a Kubernetes API without a cluster.
`FakeKube` serves plain HTTP on a loopback port and behaves like the real API server where
mqtt-kube depends on it: discovery, list and watch with resourceVersions, bookmarks and 410
Expired, create/replace/patch/delete with the real error `Status` bodies, /scale and
/status subresources, and a toy controller that fills in status. Tests drive it directly
(`put`, `patch`, `delete`, `complete_job`), observe it (`requests`, `open_watches`) and
disturb it (`fail_next`, `compact`, `cut_watches`, `latency`).

It deliberately has no authorization rules, no admission beyond what mqtt-kube relies on
(names, replicas), no pods, and no persistence: everything lives in memory.

Run it alone for demos: `python -m mqtt_kube.testing.fakekube --port 8081 --objects x.yaml`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self

import yaml
from aiohttp import web

from mqtt_kube.testing.fakekube_controller import Controller
from mqtt_kube.testing.fakekube_http import KubeHttp
from mqtt_kube.testing.fakekube_ops import copy_json
from mqtt_kube.testing.fakekube_ops import merge_patch as apply_merge_patch
from mqtt_kube.testing.fakekube_requests import RecordedRequest
from mqtt_kube.testing.fakekube_resources import Resource, StatusError
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

        With `token`, requests without `Authorization: Bearer <token>` get 401. Watches
        asked to allow bookmarks get one every `bookmark_interval` seconds. A watch may
        resume from any of the last `history_limit` events.
        """
        super().__init__(Store(history_limit=history_limit), token=token)
        self.bookmark_interval = bookmark_interval
        self.url = ""
        self._controller = Controller(self.store, delay=controller_delay)
        self._controller.enabled = controller
        self._runner: web.AppRunner | None = None
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
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        bound = runner.addresses[0]
        self.url = f"http://{bound[0]}:{bound[1]}"
        if self.bookmark_interval > 0:
            self._bookmarks = asyncio.create_task(self._tick_bookmarks(), name="fakekube-bookmarks")
        if self._controller.enabled:
            self._controller.catch_up()
        logger.info("fake Kubernetes API server on %s", self.url)
        return self.url

    async def stop(self) -> None:
        """Cut every watch stream, then stop listening."""
        self._controller.cancel()
        if self._bookmarks is not None:
            self._bookmarks.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._bookmarks
            self._bookmarks = None
        await self.cut_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

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

    def write_kubeconfig(self, path: Path | str, *, namespace: str = "default") -> Path:
        """Write a kubeconfig pointing at this server (current context, bearer token)."""
        if not self.url:
            raise RuntimeError("start the fake API server before writing its kubeconfig")
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "fakekube", "cluster": {"server": self.url}}],
            "users": [{"name": "fakekube", "user": {"token": self.token or DEFAULT_BEARER}}],
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
    ) -> None:
        """Serve a custom resource (as a CRD would), with /status and optionally /scale."""
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
        """Create or replace an object (status included); apiVersion and kind pick the resource."""
        api_version, kind = obj.get("apiVersion"), obj.get("kind")
        if not isinstance(api_version, str) or not isinstance(kind, str):
            raise StatusError.bad_request(f"put(): the object needs apiVersion and kind: {obj!r}")
        resource = self.store.by_kind(api_version, kind)
        body = _copy(obj)
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


def load_objects(path: Path) -> list[JsonObject]:
    """Kubernetes objects from a (multi-document) YAML file; `kind: List` is unpacked."""
    try:
        documents = list(yaml.safe_load_all(path.read_text()))
    except (OSError, yaml.YAMLError) as exc:
        raise ValueError(f"{path}: {exc}") from exc
    objects: list[JsonObject] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        items = document.get("items") if isinstance(document, dict) else None
        if isinstance(document, dict) and document.get("kind") == "List":
            candidates = items if isinstance(items, list) else []
        else:
            candidates = [document]
        for obj in candidates:
            if not isinstance(obj, dict) or not obj.get("apiVersion") or not obj.get("kind"):
                raise ValueError(
                    f"{path}: document {index + 1}: "
                    "not a Kubernetes object with apiVersion and kind"
                )
            objects.append(obj)
    return objects


async def serve(*, port: int, objects: list[JsonObject], kubeconfig: Path | None) -> None:
    """Run the fake API server until SIGINT (Ctrl-C) or SIGTERM."""
    fake = FakeKube()
    for index, obj in enumerate(objects):
        try:
            fake.put(obj)
        except StatusError as exc:
            raise ValueError(f"object {index + 1}: {exc}") from exc
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stopping.set)
    await fake.start(port=port)
    try:
        if kubeconfig is not None:
            fake.write_kubeconfig(kubeconfig)
            print(f"kubeconfig written to {kubeconfig}", flush=True)
        print(f"fake Kubernetes API server on {fake.url} (Ctrl-C stops it)", flush=True)
        await stopping.wait()
    finally:
        await fake.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mqtt_kube.testing.fakekube",
        description="Run the fake Kubernetes API server on 127.0.0.1 until Ctrl-C.",
    )
    parser.add_argument("--port", type=int, default=8081, help="port to listen on (0: any)")
    parser.add_argument("--objects", type=Path, help="YAML file of objects to start with")
    parser.add_argument("--kubeconfig", type=Path, help="write a kubeconfig for it here")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        objects = load_objects(args.objects) if args.objects else []
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(port=args.port, objects=objects, kubeconfig=args.kubeconfig))
    except ValueError as exc:
        print(f"error: {args.objects}: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
