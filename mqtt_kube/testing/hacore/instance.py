"""One Home Assistant Core process for tests: private configuration, loopback only, onboarded.

`HomeAssistant(installation, broker)` is a context manager. Entering it writes a fresh
configuration folder, starts `python -m homeassistant --skip-pip` (it never installs a
package) on a free loopback port, waits until its HTTP API answers and onboards it through
that API: the owner user, an auth code traded for tokens, a long-lived access token, then
the MQTT integration added through the config flow against `broker`; it is ready once
Home Assistant's MQTT birth message arrives (sent after its discovery subscriptions).
Leaving stops the process (SIGTERM, then SIGKILL) and removes the folder; a test process
that dies without leaving takes Home Assistant with it (the parent-death signal).

Nothing here reaches past loopback: `default_config:` is left out, and onboarding's
`core_config` step, which sets up integrations that install packages and go online, is
marked done in `.storage/onboarding` instead of being called (the location it would detect
is in the YAML); a default integration that goes online by itself gets a disabled config
entry before the first start. Releases that keep their HTTP settings in storage get the
loopback setting written there as confirmed.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import json
import secrets
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Coroutine
from pathlib import Path
from types import TracebackType
from typing import Any, Final, Self, TypeVar

import aiohttp
import aiomqtt

from mqtt_kube.testing.hacore.api import HaApi, HaApiError
from mqtt_kube.testing.hacore.process import ProvisionError
from mqtt_kube.testing.hacore.provision import Installation
from mqtt_kube.testing.mosquitto import HOST, Mosquitto, free_port

START_SECONDS: Final = 120.0  # a cold start on a busy 2-core machine, with margin
STOP_SECONDS: Final = 30.0
BIRTH_TOPIC: Final = "homeassistant/status"
OWNER: Final = {"name": "Owner", "username": "owner", "language": "en"}
_T = TypeVar("_T")
_PR_SET_PDEATHSIG: Final = 1  # prctl(2), Linux

CONFIGURATION: Final = """\
homeassistant:
  name: mqtt-kube test
  latitude: 52.37
  longitude: 4.89
  elevation: 0
  unit_system: metric
  time_zone: UTC
  currency: EUR
  country: NL
  language: en
config:
logger:
  default: warning
  logs:
    homeassistant.components.mqtt: info
"""
# Lines Home Assistant logs for a discovery payload it refuses.
REFUSED_MARKERS: Final = ("when processing MQTT discovery message", "Invalid MQTT discovery")


class HomeAssistant:
    """A started, onboarded Home Assistant with the MQTT integration on `broker`."""

    def __init__(self, place: Installation, broker: Mosquitto) -> None:
        self.place = place
        self.broker = broker
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.client_id = f"{self.url}/"
        self.token = ""  # the long-lived access token, once onboarded
        self.version = ""  # what the running Home Assistant reports
        self._folder: Path | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def folder(self) -> Path:
        if self._folder is None:
            raise RuntimeError("Home Assistant has not been started")
        return self._folder

    def api(self) -> HaApi:
        """An API client with the long-lived token (`async with ha.api() as api:`)."""
        return HaApi(self.url, self.token)

    def log_text(self) -> str:
        with contextlib.suppress(FileNotFoundError, RuntimeError):
            return (self.folder / "home-assistant.log").read_text(errors="replace")
        return ""

    def refused_payloads(self) -> list[str]:
        """Home Assistant's log lines about discovery payloads it refused."""
        return [
            line
            for line in self.log_text().splitlines()
            if any(marker in line for marker in REFUSED_MARKERS)
        ]

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Configure, start and onboard; raises ProvisionError with the log when it cannot."""
        place = self.place
        parent = place.host_path("/tmp")  # noqa: S108 - the chroot's own /tmp, or the host's
        self._folder = Path(tempfile.mkdtemp(prefix="mqtt-kube-ha-", dir=parent))
        self._write_configuration()
        with (self.folder / "console.log").open("wb") as console:
            command = place.command(
                "-m",
                "homeassistant",
                "--config",
                place.inner_path(self.folder),
                "--skip-pip",
                env={},
            )
            self._process = subprocess.Popen(  # noqa: S603 - our own install
                command,
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        try:
            _run_elsewhere(self._set_up())
        except TimeoutError as exc:
            why = f"not ready within {START_SECONDS:g} s"
            raise ProvisionError(f"{self!r} did not come up: {why}\n{self._log_tail()}") from exc
        except (OSError, aiohttp.ClientError, HaApiError, aiomqtt.MqttError, ProvisionError) as exc:
            raise ProvisionError(f"{self!r} did not come up: {exc}\n{self._log_tail()}") from exc

    def stop(self) -> None:
        """Stop the process (by its own pid) and remove the folder."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __repr__(self) -> str:
        return f"HomeAssistant({self.place.tier.version} on {self.url})"

    # -- configuration -----------------------------------------------------------------

    def _write_configuration(self) -> None:
        text = CONFIGURATION
        if not self.place.tier.http_in_storage:
            text += f"http:\n  server_host: {HOST}\n  server_port: {self.port}\n"
        (self.folder / "configuration.yaml").write_text(text)
        storage = self.folder / ".storage"
        storage.mkdir()
        _store(storage, "onboarding", version=4, data={"done": ["core_config"]})
        if self.place.tier.offline_entries:
            disabled = [_disabled_entry(domain) for domain in self.place.tier.offline_entries]
            _store(storage, "core.config_entries", version=1, minor=5, data={"entries": disabled})
        if self.place.tier.http_in_storage:
            confirmed = {
                "server_host": [HOST],
                "server_port": self.port,
                "cors_allowed_origins": ["https://cast.home-assistant.io"],
                "login_attempts_threshold": -1,
                "ip_ban_enabled": True,
                "ssl_profile": "intermediate_v6",
                "use_x_frame_options": True,
                "created_at": "2026-01-01T00:00:00+00:00",
                "error": None,
                "error_message": None,
            }
            data = {"stable": confirmed, "pending": None, "yaml_migration_done": True}
            _store(storage, "http", version=3, data=data)

    # -- start-up and onboarding ---------------------------------------------------------

    async def _set_up(self) -> None:
        async with asyncio.timeout(START_SECONDS):
            await self._wait_for_http()
            access = await self._onboard()
            async with HaApi(self.url, access) as api:
                self.token = await api.ws(
                    {
                        "type": "auth/long_lived_access_token",
                        "client_name": "mqtt-kube tests",
                        "lifespan": 3650,
                    }
                )
            async with self.api() as api:
                self.version = (await api.get("/api/config"))["version"]
                await self._add_mqtt(api)

    async def _wait_for_http(self) -> None:
        """Until the onboarding API answers (Home Assistant's HTTP server is up)."""
        async with aiohttp.ClientSession() as http:
            while True:
                if self._process is None or self._process.poll() is not None:
                    raise ProvisionError(f"{self!r} exited during start-up")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{self.url}/api/onboarding") as response:
                        if response.status == 200:
                            return
                await asyncio.sleep(0.1)

    async def _onboard(self) -> str:
        """The owner user and the remaining onboarding steps; an access token."""
        password = secrets.token_urlsafe(16)
        async with aiohttp.ClientSession() as http:
            user = {**OWNER, "password": password, "client_id": self.client_id}
            created = await _post(http, f"{self.url}/api/onboarding/users", json=user)
            form = {
                "grant_type": "authorization_code",
                "code": created["auth_code"],
                "client_id": self.client_id,
            }
            tokens = await _post(http, f"{self.url}/auth/token", data=form)
            access: str = tokens["access_token"]
            bearer = {"Authorization": f"Bearer {access}"}
            await _post(http, f"{self.url}/api/onboarding/analytics", json={}, headers=bearer)
            finish = {
                "client_id": self.client_id,
                "redirect_uri": f"{self.client_id}?auth_callback=1",
            }
            await _post(http, f"{self.url}/api/onboarding/integration", json=finish, headers=bearer)
        return access

    async def _add_mqtt(self, api: HaApi) -> None:
        """The MQTT integration through its config flow; returns once Home Assistant's birth
        message shows that it is connected and subscribed to discovery."""
        broker = self.broker
        async with aiomqtt.Client(broker.host, broker.port, identifier="ha-birth-watch") as probe:
            await probe.subscribe(BIRTH_TOPIC, qos=1)
            flow = await api.post("/api/config/config_entries/flow", {"handler": "mqtt"})
            if flow.get("type") != "form":
                raise HaApiError(f"the MQTT config flow did not offer a form: {flow!r}")
            fields = {field["name"] for field in flow.get("data_schema", [])}
            answer: dict[str, Any] = {"broker": broker.host, "port": broker.port}
            if "other_settings" in fields:  # 2024.8 and later group these in a section
                answer["other_settings"] = {
                    "set_client_cert": False,
                    "set_ca_cert": "off",
                    "transport": "tcp",
                }
            done = await api.post(f"/api/config/config_entries/flow/{flow['flow_id']}", answer)
            if done.get("type") != "create_entry":
                raise HaApiError(f"the MQTT config flow did not create an entry: {done!r}")
            async for message in probe.messages:
                if message.payload == b"online":
                    return

    def _log_tail(self, lines: int = 60) -> str:
        text = self.log_text() or _read(self.folder / "console.log")
        return "\n".join(text.splitlines()[-lines:])


def _store(storage: Path, key: str, *, version: int, data: dict[str, Any], minor: int = 1) -> None:
    """A file of Home Assistant's `.storage`, as its Store class writes them."""
    document = {"version": version, "minor_version": minor, "key": key, "data": data}
    (storage / key).write_text(json.dumps(document, indent=2))


def _disabled_entry(domain: str) -> dict[str, Any]:
    """A config entry of `domain` that the user disabled: never set up, and its presence
    keeps the integration from creating one by itself."""
    stamp = "2026-01-01T00:00:00+00:00"
    return {
        "created_at": stamp,
        "data": {},
        "disabled_by": "user",
        "discovery_keys": {},
        "domain": domain,
        "entry_id": secrets.token_hex(13).upper()[:26],
        "minor_version": 1,
        "modified_at": stamp,
        "options": {},
        "pref_disable_new_entities": False,
        "pref_disable_polling": False,
        "source": "user",
        "subentries": [],
        "title": domain,
        "unique_id": None,
        "version": 1,
    }


async def _post(http: aiohttp.ClientSession, url: str, **kwargs: Any) -> Any:
    async with http.post(url, **kwargs) as response:
        if response.status >= 400:
            raise HaApiError(f"POST {url}: HTTP {response.status}: {(await response.text())[:500]}")
        return await response.json()


def _die_with_parent() -> None:
    """In the child before exec: SIGTERM when the test process dies without stopping it.

    The setting survives `chroot` and `env`, which exec Home Assistant in the same process.
    """
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _run_elsewhere(work: Coroutine[Any, Any, _T]) -> _T:
    """Run `work` on an event loop of its own in a worker thread (the caller may have one)."""
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="ha-setup") as pool:
        return pool.submit(asyncio.run, work).result()


def _read(path: Path) -> str:
    with contextlib.suppress(OSError):
        return path.read_text(errors="replace")
    return ""
