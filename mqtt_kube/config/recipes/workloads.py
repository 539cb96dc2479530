"""The recipes of workloads with pods: `power` (scale to zero and back) and `restart`.

`power` is a switch: OFF scales the object to 0 and records the count it had in the
annotation `mqtt-kube.io/replicas`, ON restores that count; both are one request computed
from the watched object (mqtt_kube.kube.recipe_requests). It shows ON once a replica is
available (a Deployment's `availableReplicas`, a StatefulSet's `readyReplicas`). `restart`
is a button that sets the pod template's `kubectl.kubernetes.io/restartedAt` to now, as
`kubectl rollout restart` does.
"""

from __future__ import annotations

from typing import Final

from mqtt_kube.config.model import EntityHint
from mqtt_kube.config.recipes.base import OFF, ON, PRESS, Builder

# The field that says a replica serves: what `kubectl rollout status` waits for.
_UP_FIELD: Final = {
    "Deployment": "status.availableReplicas",
    "StatefulSet": "status.readyReplicas",
}
_COUNT: Final = {None: 0}  # the API leaves zero counts out


def power(recipe: Builder) -> None:
    """A switch that scales to zero and back, and sensors for ready and desired replicas."""
    switch = EntityHint("Power", main=True, icon="mdi:power")
    state = recipe.watch(
        _UP_FIELD[recipe.target.kind],
        "power/state",
        switch,
        values={None: OFF, 0: OFF, "lambda v: v > 0": ON},
    )
    recipe.command(
        "power", "power/set", {ON: "on", OFF: "off"}, switch, retained="apply", state=state
    )
    recipe.watch(
        "status.readyReplicas", "replicas/ready", EntityHint("Ready replicas"), values=_COUNT
    )
    recipe.watch("spec.replicas", "replicas/desired", EntityHint("Desired replicas"), values=_COUNT)


def restart(recipe: Builder) -> None:
    """A button that restarts the rollout, as `kubectl rollout restart` does."""
    recipe.command(
        "restart", "restart/press", {PRESS: "press"}, EntityHint("Restart", icon="mdi:restart")
    )
