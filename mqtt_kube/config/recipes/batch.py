"""The recipes of batch work: `cronjob` (suspend, resume, run now) and `job` (run, stop).

`cronjob` is a switch that is on while the CronJob is not suspended (a patch of
`spec.suspend`), a "Run now" button that creates a Job from its `jobTemplate` as
`kubectl create job --from=cronjob/...` does (mqtt_kube.kube.recipe_requests), and the
times of its last schedule and last success. `job` launches the binding's `launch`
template and deletes what it launched, with the status sensors the original's example
wrote by hand.
"""

from __future__ import annotations

from typing import Final

from mqtt_kube.config.model import EntityHint
from mqtt_kube.config.recipes.base import OFF, ON, PRESS, Builder

_COUNT: Final = {None: 0}  # the API leaves zero counts out


def cronjob(recipe: Builder) -> None:
    """A schedule switch, a Run now button, and the last schedule and success times."""
    switch = EntityHint("Schedule", main=True, icon="mdi:calendar-clock")
    recipe.watch("spec.suspend", "schedule/state", switch, values={True: OFF, False: ON, None: ON})
    recipe.patch("spec.suspend", "schedule/set", {ON: False, OFF: True}, switch)
    recipe.command("run", "run/press", {PRESS: "press"}, EntityHint("Run now", icon="mdi:play"))
    recipe.watch(
        "status.lastScheduleTime",
        "last-schedule",
        EntityHint("Last schedule", device_class="timestamp"),
    )
    recipe.watch(
        "status.lastSuccessfulTime",
        "last-success",
        EntityHint("Last success", device_class="timestamp"),
    )


def job(recipe: Builder) -> None:
    """Run and Stop buttons for the binding's launch template, and the Job's status."""
    launch = recipe.target.launch
    assert launch is not None  # `expand` refuses the job recipe without one
    # The buttons are named by their payloads: Run and Stop.
    recipe.action("job/set", {"RUN": "launch", "STOP": "delete"}, EntityHint("Run"), launch=launch)
    recipe.watch(
        "status.active",
        "status/active",
        EntityHint("Running", main=True, device_class="running"),
        values={None: OFF, 0: OFF, "lambda v: v > 0": ON},
    )
    recipe.watch("status.succeeded", "status/succeeded", EntityHint("Succeeded"), values=_COUNT)
    recipe.watch("status.failed", "status/failed", EntityHint("Failed"), values=_COUNT)
    recipe.watch(
        "status.startTime", "status/start-time", EntityHint("Start time", device_class="timestamp")
    )
    recipe.watch(
        "status.completionTime",
        "status/completion-time",
        EntityHint("Completion time", device_class="timestamp"),
    )
