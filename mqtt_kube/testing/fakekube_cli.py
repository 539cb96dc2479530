"""The fake Kubernetes API server as a command, for demos and trying mqtt-kube by hand.

`python -m mqtt_kube.testing.fakekube_cli --port 8081 --objects objects.yaml --kubeconfig kc`
serves the objects of a (multi-document) YAML file on 127.0.0.1 until Ctrl-C or SIGTERM,
and writes a kubeconfig for it.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from mqtt_kube.testing.fakekube import FakeKube, StatusError

JsonObject = dict[str, Any]


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
        prog="python -m mqtt_kube.testing.fakekube_cli",
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
