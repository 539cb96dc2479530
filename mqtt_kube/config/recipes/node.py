"""The recipe of a Node: a Schedulable switch (cordon, uncordon) and its Ready condition.

OFF cordons the Node (`spec.unschedulable: true`), ON uncordons it by removing the field,
which is what `kubectl uncordon` leaves behind. Ready comes from the `Ready` condition:
`True` is on; `False` and `Unknown` (the node stopped reporting) are off.
"""

from __future__ import annotations

from mqtt_kube.config.model import EntityHint
from mqtt_kube.config.recipes.base import OFF, ON, Builder

READY_CONDITION = 'status.conditions[?(@.type=="Ready")].status'


def node(recipe: Builder) -> None:
    """A Schedulable switch and a Ready binary sensor."""
    switch = EntityHint("Schedulable", main=True, icon="mdi:server")
    recipe.watch(
        "spec.unschedulable", "schedulable/state", switch, values={True: OFF, False: ON, None: ON}
    )
    recipe.patch("spec.unschedulable", "schedulable/set", {ON: None, OFF: True}, switch)
    recipe.watch(
        READY_CONDITION,
        "ready/state",
        EntityHint("Ready", device_class="connectivity"),
        values={"True": ON, "False": OFF, "Unknown": OFF},
    )
