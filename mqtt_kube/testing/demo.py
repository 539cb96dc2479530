"""`make demo`: a guided tour of mqtt-kube on this machine, with nothing to install.

It starts a real mosquitto broker on 127.0.0.1:18830 and the fake Kubernetes API (the one
the tests use) holding a `media/jellyfin` Deployment, then runs `mqtt-kube
config-demo.yaml` as a separate process, exactly as a user would. The tour publishes the
commands a Home Assistant switch and button would send, and prints what reaches the API
server and what comes back on MQTT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Final
from urllib.parse import urlencode

import aiohttp
import aiomqtt

from mqtt_kube.testing.fakekube import FakeKube
from mqtt_kube.testing.mosquitto import Mosquitto

ROOT: Final = Path(__file__).resolve().parents[2]
CONFIG: Final = ROOT / "config-demo.yaml"
BROKER_PORT: Final = 18830
HTTP_READY: Final = "http://127.0.0.1:18080/api/ready"
PREFIX: Final = "demo"
TRY_TOPIC: Final = f"{PREFIX}/jellyfin/power/set"

JELLYFIN: Final = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "jellyfin", "namespace": "media", "labels": {"app": "jellyfin"}},
    "spec": {
        "replicas": 0,
        "selector": {"matchLabels": {"app": "jellyfin"}},
        "template": {
            "metadata": {"labels": {"app": "jellyfin"}},
            "spec": {"containers": [{"name": "jellyfin", "image": "jellyfin/jellyfin"}]},
        },
    },
}


def say(text: str) -> None:
    print(f"\n\033[1m▶ {text}\033[0m", flush=True)


def show(text: str) -> None:
    print(f"    {text}", flush=True)


class Tour:
    """The scripted part: commands out, observations in."""

    def __init__(self, fake: FakeKube, client: aiomqtt.Client) -> None:
        self.fake = fake
        self.client = client
        self.seen: dict[str, str] = {}
        self._changed = asyncio.Event()

    async def listen(self) -> None:
        async for message in self.client.messages:
            payload = message.payload
            text = payload.decode() if isinstance(payload, bytes) else str(payload)
            topic = str(message.topic)
            self.seen[topic] = text
            if not topic.startswith("homeassistant/"):
                show(f"MQTT  {topic} = {text or '(empty)'}")
            self._changed.set()

    async def wait_for(self, check: Callable[[], bool], *, what: str) -> None:
        async with asyncio.timeout(15):
            while not check():
                self._changed.clear()
                try:
                    async with asyncio.timeout(0.2):
                        await self._changed.wait()
                except TimeoutError:
                    pass
        show(f"✓ {what}")

    async def command(self, topic: str, payload: str) -> None:
        self.fake.clear_requests()
        show(f"publish {PREFIX}/{topic} ← {payload}")
        await self.client.publish(f"{PREFIX}/{topic}", payload, qos=1)

    def discovery_configs(self) -> list[str]:
        return [t for t, p in self.seen.items() if t.startswith("homeassistant/") and p]

    def api_writes(self) -> list[str]:
        lines = []
        for request in self.fake.requests:
            if request.method not in {"PATCH", "POST", "DELETE", "PUT"}:
                continue
            query = "?" + urlencode(request.query) if request.query else ""
            body = json.dumps(request.body) if request.method != "DELETE" else ""
            lines.append(f"API   {request.method} {request.path}{query} {body}")
        return lines

    async def run(self) -> None:
        state = f"{PREFIX}/jellyfin/power/state"
        say("mqtt-kube published the current state at start-up")
        await self.wait_for(lambda: self.seen.get(state) == "OFF", what="jellyfin is OFF")
        await self.wait_for(
            lambda: bool(self.discovery_configs()), what="discovery configs arrived"
        )
        await asyncio.sleep(0.3)
        for topic in sorted(self.discovery_configs()):
            entity = json.loads(self.seen[topic])
            label = " · ".join(filter(None, [entity["device"].get("name"), entity.get("name")]))
            show(f"Home Assistant {topic.split('/')[1]:<14} {label}")

        say("Switch Jellyfin ON, as a Home Assistant switch would")
        await self.command("jellyfin/power/set", "ON")
        await self.wait_for(lambda: self.seen.get(state) == "ON", what="state follows: ON")
        for line in self.api_writes():
            show(line)

        say("Switch it OFF again")
        await self.command("jellyfin/power/set", "OFF")
        await self.wait_for(lambda: self.seen.get(state) == "OFF", what="state follows: OFF")
        for line in self.api_writes():
            show(line)

        say("A payload the map does not know changes nothing")
        await self.command("jellyfin/power/set", "MAYBE")
        await asyncio.sleep(0.5)
        show(f"✓ API writes: {len(self.api_writes())}")

        say("Launch the library-scan Job from its template")
        await self.command("library-scan/cmd", json.dumps({"action": "RUN"}))
        active = f"{PREFIX}/library-scan/active"
        await self.wait_for(lambda: self.seen.get(active) == "ACTIVE", what="the Job is ACTIVE")
        for line in self.api_writes():
            show(line[:160])
        self.fake.complete_job("media", "library-scan")
        done = f"{PREFIX}/library-scan/done"
        await self.wait_for(lambda: self.seen.get(done) == "YES", what="the Job finished")

        say("Delete it (and everything this binding launched)")
        await self.command("library-scan/cmd", json.dumps({"action": "STOP"}))
        await self.wait_for(lambda: self.seen.get(done) == "", what="deleted: empty payload")
        for line in self.api_writes():
            show(line)


async def wait_ready(process: asyncio.subprocess.Process) -> None:
    """Poll /api/ready until mqtt-kube says it is connected and synced."""
    async with asyncio.timeout(20), aiohttp.ClientSession() as session:
        while process.returncode is None:
            try:
                async with session.get(HTTP_READY) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise SystemExit(f"mqtt-kube exited with status {process.returncode}")


async def start_service(kubeconfig: Path) -> asyncio.subprocess.Process:
    """`mqtt-kube config-demo.yaml`, in its own process, pointed at the fake API."""
    say(f"Starting: mqtt-kube {CONFIG.name}")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mqtt_kube", str(CONFIG), env=env
    )
    await wait_ready(process)
    return process


async def drive(fake: FakeKube, *, keep: bool) -> None:
    """Subscribe to everything mqtt-kube publishes and run the tour."""
    async with aiomqtt.Client("127.0.0.1", BROKER_PORT, identifier="demo-tour") as client:
        await client.subscribe(f"{PREFIX}/#")
        await client.subscribe("homeassistant/#")
        tour = Tour(fake, client)
        listener = asyncio.create_task(tour.listen())
        try:
            await tour.run()
            if keep:
                say(f"Left running. Try: mosquitto_pub -p {BROKER_PORT} -t {TRY_TOPIC} -m ON")
                await asyncio.Event().wait()
        finally:
            listener.cancel()


async def tour(*, keep: bool) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="mqtt-kube-demo-") as tmp,
        Mosquitto(port=BROKER_PORT) as broker,
    ):
        say(f"Broker: mosquitto on 127.0.0.1:{broker.port}")
        async with FakeKube() as fake:
            fake.put(JELLYFIN)
            say(f"Kubernetes API stand-in on {fake.url}, holding Deployment media/jellyfin")
            process = await start_service(fake.write_kubeconfig(Path(tmp) / "kubeconfig"))
            try:
                await drive(fake, keep=keep)
                say("Done. Stopping mqtt-kube (it publishes 'offline' on its way out)")
            finally:
                if process.returncode is None:
                    process.terminate()
                await process.wait()
            show(f"mqtt-kube exited with status {process.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--keep", action="store_true", help="leave everything running after the tour"
    )
    args = parser.parse_args(argv)
    try:
        asyncio.run(tour(keep=args.keep))
    except KeyboardInterrupt:
        return 0
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
