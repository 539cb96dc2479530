"""Leader election with a coordination.k8s.io/v1 Lease, so two replicas never both act.

The standby connects to nothing but the Lease: no MQTT session (two sessions with one
client-id would throw each other off the broker) and no watches. Expiry is judged by the
standby's own clock — the Lease's resourceVersion not changing for a whole lease duration
— never by comparing timestamps written by another machine. Writes use the Lease's
resourceVersion, so two candidates racing for it get one 200 and one 409.

The leader gives up once it has not renewed for the renew deadline (10 s of the 15 s
lease, as client-go), counted from the start of its last successful renewal: each renewal
runs under what is left of that deadline, so a request that hangs instead of failing
cannot outlast it, and the leader stops acting before a standby may take over.

Why not `kubernetes_asyncio.leaderelection`: its renew loop checks the renew deadline only
between attempts and sends each request without a time limit (aiohttp's default is
none), so a hanging renewal holds it past the lease, which is this very split brain; an
aiohttp error (connection refused) escapes its `run()` and ends the election; it goes
through the generated models (`CoordinationV1Api`, `V1Lease`), never releases the Lease
on a clean stop, and judges expiry with the wall clock.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from mqtt_kube.core.errors import Conflict, KubeError, MqttKubeError, NotFound
from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.kube.client import JsonObject, KubeClient

logger = logging.getLogger(__name__)

LEASE: Final = BUILTIN_KINDS["Lease"]
SERVICE_ACCOUNT_NAMESPACE: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def lease_namespace() -> str:
    """$POD_NAMESPACE, else the service account's namespace, else `default`."""
    if os.environ.get("POD_NAMESPACE"):
        return os.environ["POD_NAMESPACE"]
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or "default"
    except OSError:
        return "default"


def lease_name(client_id: str) -> str:
    """A valid object name for the Lease of the instance with this MQTT client-id."""
    name = re.sub(r"[^a-z0-9-]+", "-", f"mqtt-kube-{client_id}".lower())
    return re.sub(r"-+", "-", name)[:63].strip("-")


class LeadershipLost(Exception):
    """The Lease could not be renewed in time, or another holder took it."""


@dataclass(frozen=True)
class LeaseTiming:
    duration: float = 15.0  # a holder silent this long has lost the Lease
    renew_every: float = 5.0
    retry_every: float = 2.0
    renew_deadline: float = 10.0  # a leader that has not renewed this long stops acting

    def __post_init__(self) -> None:
        if not self.renew_every < self.renew_deadline < self.duration:
            raise ValueError(
                f"the renewal ({self.renew_every:g} s) must come before the renew deadline "
                f"({self.renew_deadline:g} s), and that before the lease duration "
                f"({self.duration:g} s)"
            )

    @classmethod
    def from_env(cls) -> LeaseTiming:
        """Seconds from $MQTT_KUBE_LEASE_DURATION, _RENEW, _RETRY and _RENEW_DEADLINE
        (by default two thirds of the duration: 10 s of 15 s, as client-go)."""
        default = cls()
        given = {
            name: _seconds(f"MQTT_KUBE_LEASE_{variable}", getattr(default, name))
            for name, variable in (
                ("duration", "DURATION"),
                ("renew_every", "RENEW"),
                ("retry_every", "RETRY"),
            )
        }
        given["renew_deadline"] = _seconds(
            "MQTT_KUBE_LEASE_RENEW_DEADLINE", given["duration"] * 2 / 3
        )
        try:
            return cls(**given)
        except ValueError:
            raise MqttKubeError(
                f"$MQTT_KUBE_LEASE_RENEW ({given['renew_every']:g} s) must be shorter than "
                f"$MQTT_KUBE_LEASE_RENEW_DEADLINE ({given['renew_deadline']:g} s), and that "
                f"shorter than $MQTT_KUBE_LEASE_DURATION ({given['duration']:g} s)"
            ) from None


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not 0 < value < math.inf:
        raise MqttKubeError(f"${variable}: expected a number of seconds above 0, got {raw!r}")
    return value


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class LeaderElector:
    """Acquire, hold and release one Lease under one identity."""

    def __init__(
        self,
        client: KubeClient,
        *,
        namespace: str,
        name: str,
        identity: str,
        timing: LeaseTiming | None = None,
    ) -> None:
        self._client = client
        self._path = LEASE.object_path(name, namespace)
        self._collection = LEASE.collection_path(namespace)
        self._namespace = namespace
        self._name = name
        self.identity = identity
        self.timing = timing or LeaseTiming()
        self._seen_version: str | None = None
        self._seen_at = 0.0
        self._version: str | None = None  # of the Lease we last wrote
        self._renewed_at = 0.0  # monotonic start of the last successful acquire or renewal
        self.is_leader = False

    async def acquire(self) -> None:
        """Return once this identity holds the Lease; API errors meanwhile are retried."""
        logged = False
        while True:
            started = time.monotonic()
            try:
                if await self._try_acquire():
                    self._renewed_at = started
                    break
            except KubeError as exc:
                logger.warning("standing by: cannot read Lease %s, retrying: %s", self._name, exc)
            else:
                if not logged:
                    logger.info("standing by: Lease %s is held by another replica", self._name)
                    logged = True
            await asyncio.sleep(self.timing.retry_every)
        self.is_leader = True
        logger.info("leader: holding Lease %s/%s as %s", self._namespace, self._name, self.identity)

    async def hold(self) -> None:
        """Renew the Lease until it is lost; raises LeadershipLost then.

        Lost: another holder has it, or no renewal succeeded within the renew deadline of
        the last one (each attempt is cut off when the deadline passes).
        """
        delay = self.timing.renew_every
        while True:
            await asyncio.sleep(delay)
            started = time.monotonic()
            left = self._renewed_at + self.timing.renew_deadline - started
            try:
                if left <= 0:
                    raise TimeoutError
                async with asyncio.timeout(left):
                    renewed = await self._try_acquire()
            except TimeoutError:
                reason = f"not renewed within the renew deadline ({self.timing.renew_deadline:g} s)"
            except KubeError as exc:
                logger.warning("Lease renewal failed, retrying: %s", exc)
                delay = self.timing.retry_every
                continue
            else:
                if renewed:
                    self._renewed_at = started
                    delay = self.timing.renew_every
                    continue
                reason = "another replica holds the Lease"
            self.is_leader = False
            raise LeadershipLost(f"lost Lease {self._namespace}/{self._name}: {reason}")

    async def release(self) -> None:
        """Give the Lease up at once so a standby takes over without waiting for expiry."""
        if not self.is_leader or self._version is None:
            return
        self.is_leader = False
        body = self._lease(holder="", transitions=None, acquired=None)
        body["metadata"]["resourceVersion"] = self._version
        body["spec"]["leaseDurationSeconds"] = 1
        try:
            await self._client.request("PUT", self._path, body=body)
        except KubeError as exc:
            logger.warning("could not release Lease %s: %s", self._name, exc)

    async def _try_acquire(self) -> bool:
        try:
            current = await self._client.request("GET", self._path, missing_ok=True)
        except NotFound:
            return await self._write("POST", self._lease(holder=self.identity, transitions=0))
        spec: dict[str, Any] = current.get("spec") or {}
        version = str(current["metadata"].get("resourceVersion"))
        holder = spec.get("holderIdentity") or ""
        if version != self._seen_version:
            self._seen_version, self._seen_at = version, time.monotonic()
        duration = float(spec.get("leaseDurationSeconds") or self.timing.duration)
        expired = time.monotonic() - self._seen_at > duration
        if holder and holder != self.identity and not expired:
            return False
        transitions = int(spec.get("leaseTransitions") or 0) + (holder != self.identity)
        acquired = spec.get("acquireTime") if holder == self.identity else None
        body = self._lease(holder=self.identity, transitions=transitions, acquired=acquired)
        body["metadata"]["resourceVersion"] = version
        return await self._write("PUT", body)

    async def _write(self, method: str, body: JsonObject) -> bool:
        path = self._collection if method == "POST" else self._path
        try:
            written = await self._client.request(method, path, body=body)
        except Conflict:
            return False
        self._version = str(written["metadata"].get("resourceVersion"))
        self._seen_version, self._seen_at = self._version, time.monotonic()
        return True

    def _lease(
        self, *, holder: str, transitions: int | None, acquired: str | None = None
    ) -> JsonObject:
        now = _now()
        spec: dict[str, Any] = {
            "holderIdentity": holder,
            # Rounded up: a standby never judges the Lease expired before its holder gives up.
            "leaseDurationSeconds": math.ceil(self.timing.duration),
            "renewTime": now,
            "acquireTime": acquired or now,
        }
        if transitions is not None:
            spec["leaseTransitions"] = transitions
        return {
            "apiVersion": LEASE.api_version,
            "kind": "Lease",
            "metadata": {"name": self._name, "namespace": self._namespace},
            "spec": spec,
        }
