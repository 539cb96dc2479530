"""The one request each recipe command sends, computed from the payload, the watched copy of
the object and the clock; never a GET first.

- `power` OFF: one merge patch of the object that sets `spec.replicas` to 0 and records the
  count it had in the annotation `mqtt-kube.io/replicas`; ON: one merge patch that restores
  the recorded count (1 when none is recorded; the current count when it is already up).
  `/scale` cannot carry an annotation, so both go to the object itself. Both carry the
  watched `resourceVersion`, so the API server refuses (409) a patch computed from a copy
  that is no longer current, and the binding computes it again from the next copy.
- `restart`: a merge patch of the pod template's `kubectl.kubernetes.io/restartedAt`
  annotation to now (RFC 3339), as `kubectl rollout restart` writes it.
- `run`: a POST of a Job made from the CronJob's `jobTemplate` as
  `kubectl create job NAME --from=cronjob/CRONJOB` makes it (its labels, its annotations
  over `cronjob.kubernetes.io/instantiate: manual`, owned by the CronJob as its
  controller). kubectl needs the NAME given; mqtt-kube names it
  `<cronjob>-manual-<Unix seconds of the press>`, the CronJob's name cut so that the
  whole stays within 63 characters (a Job's name becomes a label value).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from mqtt_kube.core.errors import MqttKubeError
from mqtt_kube.core.kinds import BUILTIN_KINDS, KindInfo
from mqtt_kube.kube.client import MERGE_PATCH, JsonObject, KubeClient
from mqtt_kube.kube.patch import PatchRequest, send_patch

REPLICAS_ANNOTATION: Final = "mqtt-kube.io/replicas"
RESTARTED_AT: Final = "kubectl.kubernetes.io/restartedAt"
INSTANTIATE: Final = "cronjob.kubernetes.io/instantiate"
MANUAL_INFIX: Final = "-manual-"
_JOB_NAME_MAX: Final = 63


class NotSeen(MqttKubeError):
    """The command needs the watched copy of the object, and there is none (yet)."""


@dataclass(frozen=True)
class RecipeRequest:
    """One request: method, path, body; `guarded` when a newer copy may make it pass."""

    method: str
    path: str
    body: JsonObject
    guarded: bool = False


def command_request(
    operation: str,
    word: str,
    *,
    kind: KindInfo,
    namespace: str | None,
    name: str,
    seen: JsonObject | None,
    now: datetime,
) -> RecipeRequest:
    """The request of `operation` for the mapped payload `word` (`on`, `off`, `press`)."""
    path = kind.object_path(name, namespace)
    if operation == "restart":
        stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
        return RecipeRequest("PATCH", path, body)
    if seen is None:
        raise NotSeen(f"{kind.kind} {name} has not been seen by its watch (does it exist?)")
    if operation == "power":
        return RecipeRequest("PATCH", path, power_patch(seen, on=word == "on"), guarded=True)
    job = BUILTIN_KINDS["Job"]
    return RecipeRequest("POST", job.collection_path(namespace), job_from_cronjob(seen, now=now))


def power_patch(seen: JsonObject, *, on: bool) -> JsonObject:
    """The merge patch that switches a scalable object on or off, from its watched copy."""
    metadata = seen.get("metadata") or {}
    current = (seen.get("spec") or {}).get("replicas")
    current = current if isinstance(current, int) else 1  # the API server's default
    guard: JsonObject = {"resourceVersion": metadata.get("resourceVersion")}
    if not on:
        if current > 0:
            guard["annotations"] = {REPLICAS_ANNOTATION: str(current)}
        return {"metadata": guard, "spec": {"replicas": 0}}
    if current > 0:
        return {"metadata": guard, "spec": {"replicas": current}}
    return {"metadata": guard, "spec": {"replicas": recorded_replicas(metadata)}}


def recorded_replicas(metadata: JsonObject) -> int:
    """The count the annotation recorded; 1 when it is absent or not a positive number."""
    text = (metadata.get("annotations") or {}).get(REPLICAS_ANNOTATION)
    try:
        count = int(str(text))
    except ValueError:
        return 1
    return count if count > 0 else 1


def job_from_cronjob(cronjob: JsonObject, *, now: datetime) -> JsonObject:
    """A Job from the CronJob's jobTemplate, as `kubectl create job --from=cronjob/…` makes it."""
    metadata = cronjob.get("metadata") or {}
    template = (cronjob.get("spec") or {}).get("jobTemplate") or {}
    template_meta = template.get("metadata") or {}
    job_meta: JsonObject = {
        "name": manual_job_name(str(metadata.get("name", "")), now),
        "annotations": {INSTANTIATE: "manual", **(template_meta.get("annotations") or {})},
        "ownerReferences": [
            {
                "apiVersion": BUILTIN_KINDS["CronJob"].api_version,
                "kind": "CronJob",
                "name": metadata.get("name"),
                "uid": metadata.get("uid"),
                "controller": True,
            }
        ],
    }
    if template_meta.get("labels"):
        job_meta["labels"] = dict(template_meta["labels"])
    return {
        "apiVersion": BUILTIN_KINDS["Job"].api_version,
        "kind": "Job",
        "metadata": job_meta,
        "spec": copy.deepcopy(template.get("spec") or {}),
    }


def manual_job_name(cronjob: str, now: datetime) -> str:
    """`<cronjob>-manual-<Unix seconds>`, within 63 characters."""
    suffix = f"{MANUAL_INFIX}{int(now.timestamp())}"
    return cronjob[: _JOB_NAME_MAX - len(suffix)].rstrip("-.") + suffix


async def send_recipe_request(client: KubeClient, request: RecipeRequest) -> JsonObject:
    """Send it; patches go as every patch goes (`send_patch`: strict field validation)."""
    if request.method == "PATCH":
        return await send_patch(client, PatchRequest(request.path, MERGE_PATCH, request.body))
    return await client.request(request.method, request.path, body=request.body)
