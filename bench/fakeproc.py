"""The fake API server in a process of its own, driven by JSON lines on stdin.

The benchmarks measure mqtt-kube's CPU, so the server it talks to must not share its core.
This runs `FakeKube` (no controller, no bookmarks: nothing changes unless asked) and answers
one JSON line per request line:

- `{"op": "put", "objects": [...]}`: create or replace objects;
- `{"op": "set", "api_version", "kind", "namespace", "path", "values"}`: for each value in
  turn, set the field at `path` of every object of that kind to it — all in one go, so the
  watch streams then carry the whole backlog as fast as the server can write it; answers
  the number of events and the monotonic time the last one was queued;
- `{"op": "patch", "api_version", "kind", "namespace", "name", "patch"}`: one JSON merge
  patch of one object; answers the monotonic time it was applied;
- `{"op": "stats"}`: open and peak watch connections, watch requests, requests;
- `{"op": "reset"}`: forget the request log and the peak.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mqtt_kube.testing.fakekube import FakeKube

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]


def _answer(message: JsonObject) -> None:
    sys.stdout.write(json.dumps(message) + "\n")
    sys.stdout.flush()


def _nested(path: Sequence[str], value: object) -> JsonObject:
    """`["spec", "replicas"]`, 3 → `{"spec": {"replicas": 3}}`."""
    patch: object = value
    for key in reversed(path):
        patch = {key: patch}
    assert isinstance(patch, dict)
    return patch


def _set(fake: FakeKube, request: JsonObject) -> JsonObject:
    api_version, kind = str(request["api_version"]), str(request["kind"])
    namespace = request.get("namespace")
    names = [
        (obj["metadata"].get("namespace"), obj["metadata"]["name"])
        for obj in fake.objects(api_version, kind, namespace)
    ]
    before = int(fake.resource_version)
    for value in request["values"]:
        for object_namespace, name in names:
            fake.patch(api_version, kind, object_namespace, name, _nested(request["path"], value))
    return {
        "events": int(fake.resource_version) - before,
        "objects": len(names),
        "done": time.monotonic(),
    }


def _handle(fake: FakeKube, request: JsonObject) -> JsonObject:
    op = request.get("op")
    if op == "put":
        for obj in request["objects"]:
            fake.put(obj)
        return {"objects": len(request["objects"]), "resource_version": fake.resource_version}
    if op == "set":
        return _set(fake, request)
    if op == "patch":
        fake.patch(
            str(request["api_version"]),
            str(request["kind"]),
            request.get("namespace"),
            str(request["name"]),
            request["patch"],
        )
        return {"done": time.monotonic()}
    if op == "stats":
        return {
            "open_watches": fake.open_watches,
            "max_open_watches": fake.max_open_watches,
            "watch_requests": fake.watch_requests,
            "requests": len(fake.requests),
            "resource_version": fake.resource_version,
        }
    if op == "reset":
        fake.clear_requests()
        fake.max_open_watches = fake.open_watches
        fake.watch_requests = 0
        return {}
    return {"error": f"unknown op {op!r}"}


async def serve(kubeconfig: Path) -> None:
    """Serve until stdin closes."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader(limit=64 * 1024 * 1024)
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    async with FakeKube(controller=False, bookmark_interval=0, history_limit=100_000) as fake:
        fake.write_kubeconfig(kubeconfig)
        _answer({"url": fake.url})
        while line := await reader.readline():
            try:
                answer = _handle(fake, json.loads(line))
            except Exception as exc:
                logger.exception("request failed")
                answer = {"error": f"{type(exc).__name__}: {exc}"}
            _answer(answer)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.fakeproc")
    parser.add_argument("--kubeconfig", type=Path, required=True, help="write a kubeconfig here")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    asyncio.run(serve(args.kubeconfig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
