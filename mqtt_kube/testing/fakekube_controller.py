"""A toy controller for the fake Kubernetes API server: status follows spec, a little later.

Real clusters fill in `status` asynchronously; mqtt-kube's users watch those fields (a
Deployment's availableReplicas, a Job's succeeded count). This controller gives them the
same shape without pods: replica counts follow spec.replicas after `delay` seconds, with
zero counts left out as the real API leaves them out; a DaemonSet runs one pod; a Job
starts at once and finishes only when a test says so (`complete_job`, `fail_job`).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Final

from mqtt_kube.testing.fakekube_resources import Resource, StatusError
from mqtt_kube.testing.fakekube_store import Store
from mqtt_kube.testing.fakekube_watchers import now_rfc3339

logger = logging.getLogger(__name__)

JsonObject = dict[str, Any]
ObjectRef = tuple[Resource, str, str]  # (resource, namespace, name)

_REPLICA_FIELDS: Final = ("replicas", "readyReplicas", "availableReplicas", "updatedReplicas")
_CONTROLLED: Final = frozenset(
    {
        ("apps/v1", "Deployment"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "ReplicaSet"),
        ("apps/v1", "DaemonSet"),
        ("batch/v1", "Job"),
    }
)


def desired_status(kind: str, obj: JsonObject) -> JsonObject:
    """The status this controller wants for `obj`: its current status with its fields set."""
    status: JsonObject = dict(obj.get("status") or {})
    generation = obj["metadata"].get("generation")
    if kind == "Job":
        if not status.get("startTime") and not _finished(status):
            status.update(active=1, startTime=now_rfc3339())
        return status
    if kind == "DaemonSet":
        for key in (
            "currentNumberScheduled",
            "desiredNumberScheduled",
            "numberReady",
            "numberAvailable",
            "updatedNumberScheduled",
        ):
            status[key] = 1
        status["numberMisscheduled"] = 0
    else:
        replicas = (obj.get("spec") or {}).get("replicas") or 0
        for key in _REPLICA_FIELDS:
            if replicas:
                status[key] = replicas
            else:
                status.pop(key, None)  # the real API omits zero counts
    if generation is not None:
        status["observedGeneration"] = generation
    return status


def _finished(status: JsonObject) -> bool:
    return any(
        condition.get("type") in ("Complete", "Failed") and condition.get("status") == "True"
        for condition in status.get("conditions") or []
    )


class Controller:
    """Reconciles controlled objects `delay` seconds after each write to them."""

    def __init__(self, store: Store, *, delay: float) -> None:
        self._store = store
        self.delay = delay
        self._enabled = True
        self._writing = False
        self._pending: dict[tuple[str, str, str, str], asyncio.TimerHandle] = {}
        store.listeners.append(self._written)

    @property
    def enabled(self) -> bool:
        return self._enabled

    @enabled.setter
    def enabled(self, value: bool) -> None:
        """Switching on catches up with every controlled object at once."""
        was = self._enabled
        self._enabled = value
        if value and not was:
            self.catch_up()
        elif not value:
            self.cancel()

    def catch_up(self) -> None:
        """Schedule a reconcile of every controlled object (at start, or when switched on)."""
        for resource in self._store.resources():
            if (resource.api_version, resource.kind) in _CONTROLLED:
                for obj in self._store.items(resource, None):
                    metadata = obj["metadata"]
                    self._schedule(resource, metadata.get("namespace", ""), metadata["name"])

    def cancel(self) -> None:
        for handle in self._pending.values():
            handle.cancel()
        self._pending.clear()

    def _written(self, resource: Resource, namespace: str, name: str) -> None:
        if self._enabled and not self._writing:
            self._schedule(resource, namespace, name)

    def _schedule(self, resource: Resource, namespace: str, name: str) -> None:
        if (resource.api_version, resource.kind) not in _CONTROLLED:
            return
        key = (resource.api_version, resource.plural, namespace, name)
        if key in self._pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return  # not serving yet: `FakeKube.start` catches up
        self._pending[key] = loop.call_later(
            self.delay, self._reconcile, key, (resource, namespace, name)
        )

    def _reconcile(self, key: tuple[str, str, str, str], ref: ObjectRef) -> None:
        self._pending.pop(key, None)
        resource, namespace, name = ref
        obj = self._store.get(resource, namespace, name)
        if obj is None or not self._enabled:
            return
        status = desired_status(resource.kind, obj)
        if status != obj.get("status"):
            self.write_status(resource, obj, status)

    def write_status(self, resource: Resource, obj: JsonObject, status: JsonObject) -> JsonObject:
        """Replace the status of `obj` without scheduling another reconcile for it."""
        metadata = obj["metadata"]
        self._writing = True
        try:
            return self._store.update(
                resource,
                metadata.get("namespace"),
                metadata["name"],
                {**obj, "status": status},
                part="status",
                check_version=False,
            )
        finally:
            self._writing = False

    def finish_job(self, namespace: str, name: str, *, succeeded: bool) -> JsonObject:
        """Mark a Job Complete (succeeded=1) or Failed (failed=1), as its pod would."""
        resource = self._store.by_kind("batch/v1", "Job")
        obj = self._store.get(resource, namespace, name)
        if obj is None:
            raise StatusError.not_found(resource, name)
        now = now_rfc3339()
        status: JsonObject = dict(obj.get("status") or {})
        status.pop("active", None)
        status.setdefault("startTime", now)
        condition: JsonObject = {
            "type": "Complete" if succeeded else "Failed",
            "status": "True",
            "lastProbeTime": now,
            "lastTransitionTime": now,
        }
        if succeeded:
            status["succeeded"] = 1
            status["completionTime"] = now
        else:
            status["failed"] = 1
            condition["reason"] = "BackoffLimitExceeded"
            condition["message"] = "Job has reached the specified backoff limit"
        status["conditions"] = [*(status.get("conditions") or []), condition]
        logger.debug("Job %s/%s %s", namespace, name, condition["type"])
        return self.write_status(resource, obj, status)
