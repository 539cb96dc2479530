"""Recipes in the config layer: what a `recipe:` expands into, and the mistakes it refuses.

Covered: each recipe's topics under the default base (`<kind>/<namespace>/<name>`, or
`<kind>/<name>` for a Node) and under `topic:`, both under `mqtt.topic-prefix`; a single
name, a list, the comma-separated form of annotations; explicit associations beside a
recipe add to it; a recipe on the wrong kind, an unknown name, a name given twice, the job
recipe without `launch:`, `launch:` or `topic:` without a recipe, each refused with its
file:line and what is valid, and every other binding still read; a recipe topic that
collides with a hand-written one; `mqtt-kube check` naming the recipes and their
commands; the original configurations still load as before.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mqtt_kube.cli.main import main
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import BindingSpec, Config
from mqtt_kube.config.recipes import recipe_names
from mqtt_kube.core.errors import ConfigError
from tests.support.paths import ORIGINAL_CONFIG

HEAD = "mqtt:\n  client-id: kube\n  topic-prefix: home/kube\nbindings:\n"
JOB = (
    "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: ${binding.name}\nspec:\n"
    "  template:\n    spec:\n      restartPolicy: Never\n"
    "      containers: [{name: run, image: busybox}]\n"
)


def load(tmp_path: Path, bindings: str) -> Config:
    path = tmp_path / "config.yaml"
    (tmp_path / "job.yaml").write_text(JOB)
    path.write_text(HEAD + bindings)
    return load_config(path)


def problems(tmp_path: Path, bindings: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, bindings)
    return [f"{p.line}: {p.path}: {p.message}" for p in caught.value.problems]


def topics(binding: BindingSpec) -> dict[str, list[str]]:
    return {
        "watch": [spec.topic for spec in binding.watch],
        "patch": [spec.topic for spec in binding.patch],
        "action": [spec.topic for spec in binding.action],
        "command": [f"{spec.operation} {spec.topic}" for spec in binding.command],
    }


def test_power_and_restart_on_a_deployment_get_their_topics_under_the_default_base(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path,
        "  - namespace: media\n    resource: Deployment\n    name: jellyfin\n"
        "    recipe: [power, restart]\n",
    )
    (binding,) = config.bindings
    base = "home/kube/deployment/media/jellyfin"
    assert binding.recipes == ("power", "restart")
    assert binding.topic == base
    assert topics(binding) == {
        "watch": [f"{base}/power/state", f"{base}/replicas/ready", f"{base}/replicas/desired"],
        "patch": [],
        "action": [],
        "command": [f"power {base}/power/set", f"restart {base}/restart/press"],
    }
    assert [watch.locus.expression for watch in binding.watch] == [
        "status.availableReplicas",
        "status.readyReplicas",
        "spec.replicas",
    ]
    assert all(watch.retain for watch in binding.watch)
    (power, _) = binding.command
    assert power.state is binding.watch[0]
    assert power.retained == "apply"  # a desired state, like a patch


def test_a_statefulset_is_on_once_a_replica_is_ready(tmp_path: Path) -> None:
    config = load(
        tmp_path, "  - namespace: db\n    resource: StatefulSet\n    name: pg\n    recipe: power\n"
    )
    assert config.bindings[0].watch[0].locus.expression == "status.readyReplicas"


@pytest.mark.parametrize(
    ("head", "recipe", "expected"),
    [
        pytest.param(
            "namespace: batch\n    resource: CronJob\n    name: backup",
            "cronjob",
            {
                "watch": ["schedule/state", "last-schedule", "last-success"],
                "patch": ["schedule/set"],
                "action": [],
                "command": ["run run/press"],
            },
            id="cronjob",
        ),
        pytest.param(
            "resource: Node\n    name: pi-1",
            "node",
            {
                "watch": ["schedulable/state", "ready/state"],
                "patch": ["schedulable/set"],
                "action": [],
                "command": [],
            },
            id="node",
        ),
        pytest.param(
            "namespace: batch\n    resource: Job\n    name: nightly\n    launch: !relpath job.yaml",
            "job",
            {
                "watch": [
                    "status/active",
                    "status/succeeded",
                    "status/failed",
                    "status/start-time",
                    "status/completion-time",
                ],
                "patch": [],
                "action": ["job/set"],
                "command": [],
            },
            id="job",
        ),
    ],
)
def test_each_recipe_has_stable_leaf_topics(
    tmp_path: Path, head: str, recipe: str, expected: dict[str, list[str]]
) -> None:
    (binding,) = load(tmp_path, f"  - {head}\n    recipe: {recipe}\n").bindings
    base = binding.topic
    assert base is not None
    found = topics(binding)
    for role, leaves in expected.items():
        assert found[role] == [
            f"{leaf.split(' ')[0]} {base}/{leaf.split(' ')[1]}" if " " in leaf else f"{base}/{leaf}"
            for leaf in leaves
        ]


def test_a_cluster_scoped_kind_has_no_namespace_in_its_base_and_topic_sets_the_base(
    tmp_path: Path,
) -> None:
    config = load(
        tmp_path,
        "  - resource: Node\n    name: pi-1\n    recipe: node\n"
        "  - resource: Node\n    name: pi-2\n    recipe: node\n    topic: /nodes/second/\n",
    )
    assert [binding.topic for binding in config.bindings] == [
        "home/kube/node/pi-1",
        "home/kube/nodes/second",
    ]


def test_explicit_associations_beside_a_recipe_add_to_it(tmp_path: Path) -> None:
    (binding,) = load(
        tmp_path,
        "  - namespace: media\n    resource: Deployment\n    name: jellyfin\n"
        "    recipe: restart\n"
        "    watch: {locus: status.updatedReplicas, topic: jellyfin/updated}\n"
        "    patch: {locus: spec.paused, topic: jellyfin/pause}\n",
    ).bindings
    assert [watch.topic for watch in binding.watch] == ["home/kube/jellyfin/updated"]
    assert [patch.topic for patch in binding.patch] == ["home/kube/jellyfin/pause"]
    assert [command.operation for command in binding.command] == ["restart"]


def test_the_comma_separated_form_of_annotations_is_read_too() -> None:
    assert recipe_names("power, restart") == ("power", "restart")
    assert recipe_names(["node"]) == ("node",)


@pytest.mark.parametrize(
    ("binding", "expected"),
    [
        pytest.param(
            "namespace: media\n    resource: DaemonSet\n    name: agent\n"
            "    recipe: [restart, power]",
            "8: bindings[0].recipe[1]: recipe 'power' is for Deployment and StatefulSet, not "
            "DaemonSet (for DaemonSet: restart)",
            id="wrong-kind",
        ),
        pytest.param(
            "namespace: media\n    resource: Deployment\n    name: app\n    recipe: powr",
            "8: bindings[0].recipe: unknown recipe 'powr' (known: power, restart, cronjob, job, "
            "node)",
            id="unknown",
        ),
        pytest.param(
            "namespace: media\n    resource: Deployment\n    name: app\n"
            "    recipe:\n      - power\n      - power",
            "10: bindings[0].recipe[1]: recipe 'power' is named twice",
            id="twice",
        ),
        pytest.param(
            "namespace: media\n    resource: Deployment\n    name: app\n    recipe: []",
            "8: bindings[0].recipe: an empty list names no recipe (known: power, restart, "
            "cronjob, job, node)",
            id="empty",
        ),
        pytest.param(
            "namespace: batch\n    resource: Job\n    name: nightly\n    recipe: job",
            "8: bindings[0].recipe[0]: recipe 'job' needs the binding's `launch:`, the template "
            "of the Job to run (launch: !relpath job.yaml)",
            id="job-without-launch",
        ),
        pytest.param(
            "namespace: media\n    resource: Deployment\n    name: app\n    recipe: power\n"
            "    launch: !relpath job.yaml",
            "9: bindings[0].launch: `launch:` on a binding is the job recipe's template; "
            "without it, write the template in an action (action: {topic: ..., launch: ...})",
            id="launch-without-job",
        ),
        pytest.param(
            "namespace: media\n    resource: Deployment\n    name: app\n    topic: apps/app",
            "8: bindings[0].topic: `topic:` on a binding belongs to its recipes: add one",
            id="topic-without-recipe",
        ),
        pytest.param(
            "namespace: media\n    resource: Lamp\n    apiVersion: example.com/v1\n"
            "    name: desk\n    recipe: power",
            "9: bindings[0].recipe[0]: recipe 'power' is for Deployment and StatefulSet, not "
            "Lamp (for Lamp: none)",
            id="custom-kind",
        ),
    ],
)
def test_a_recipe_that_cannot_apply_is_a_problem_with_its_line_and_what_is_valid(
    tmp_path: Path, binding: str, expected: str
) -> None:
    good = "  - namespace: media\n    resource: Deployment\n    name: fine\n    recipe: powr\n"
    found = problems(tmp_path, f"  - {binding}\n{good}")
    assert found[0] == expected
    assert found[1:] == [  # the next binding's mistake is reported as well
        f"{4 + binding.count(chr(10)) + 5}: bindings[1].recipe: unknown recipe 'powr' "
        "(known: power, restart, cronjob, job, node)"
    ]


def test_a_recipe_topic_colliding_with_a_written_one_is_refused(tmp_path: Path) -> None:
    found = problems(
        tmp_path,
        "  - namespace: media\n    resource: Deployment\n    name: app\n"
        "    watch: {locus: status.replicas, topic: deployment/media/app/power/set}\n"
        "  - namespace: media\n    resource: Deployment\n    name: app\n    recipe: power\n",
    )
    assert found == [
        "12: bindings[1].recipe.patch: topic 'home/kube/deployment/media/app/power/set' is "
        "also the state topic of bindings[0].watch[0]: mqtt-kube would take its own state "
        "for a command"
    ]


def test_check_names_the_recipes_their_base_and_their_commands(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        HEAD + "  - namespace: media\n    resource: Deployment\n    name: jellyfin\n"
        "    recipe: [power, restart]\n"
    )
    assert main(["check", str(path)]) == 0
    out = capsys.readouterr().out
    base = "home/kube/deployment/media/jellyfin"
    assert f"  Deployment media/jellyfin (recipe power, restart under {base})\n" in out
    assert f"    power  ← {base}/power/set\n" in out
    assert f"    restart ← {base}/restart/press\n" in out


def test_the_original_configuration_has_no_recipe_and_loads_as_before() -> None:
    config = load_config(ORIGINAL_CONFIG)
    assert all(not b.recipes and not b.command and b.topic is None for b in config.bindings)
