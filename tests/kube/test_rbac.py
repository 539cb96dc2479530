"""`mqtt-kube rbac`: the least RBAC a config needs, checked rule by rule.

Covers: the project's config-basic.yaml; a config with a custom resource (apiVersion
example.com/v1), a Node binding and a cluster-scoped custom resource; guessed plurals and the
comment saying so; discovery URLs only when a non-built-in kind is used; `/scale` and
`/status`; action verbs only as far as the action's map can lead (launch, delete, both);
namespaced watches by default, cluster-wide ones when asked (`watch-scope: cluster`); leader
election; the --namespace and --service-account options; templates whose kind cannot be read;
the command line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mqtt_kube.cli.main import main
from mqtt_kube.config.load import load_config
from mqtt_kube.core.template import LaunchTemplate
from mqtt_kube.kube.permissions import guess_plural, template_kind
from mqtt_kube.kube.rbac import RbacError, render_rbac
from tests.support.paths import ROOT
from tests.support.rbac_rules import documents, find, rule

JOB_TEMPLATE = """\
# A Job launched by the action; Mako fills in ${...}.
apiVersion: batch/v1
kind: Job
metadata:
  generateName: ${binding.name}-
spec:
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: run
          image: busybox:1.36
"""

CUSTOM_CONFIG = """\
mqtt:
  client-id: rbac-test
bindings:
  - resource: Node
    name: node-1
    watch:
      locus: status.conditions
      topic: node/conditions
    patch:
      locus: spec.unschedulable
      topic: node/cordon/set
  - namespace: media
    resource: Backup
    apiVersion: example.com/v1
    name: nightly
    watch:
      locus: status.phase
      topic: backup/phase
    patch:
      - locus: spec.replicas
        topic: backup/replicas/set
      - locus: status.phase
        topic: backup/phase/set
    action:
      topic: backup/cmd
      launch: !relpath job.yaml
      values:
        RUN: launch
        STOP: delete
  - resource: Cluster
    apiVersion: example.com/v1
    name: main
    watch:
      locus: status.health
      topic: cluster/health
"""


def write_config(folder: Path, text: str) -> Path:
    (folder / "job.yaml").write_text(JOB_TEMPLATE)
    path = folder / "config.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def custom_rbac(tmp_path: Path) -> str:
    return render_rbac(load_config(write_config(tmp_path, CUSTOM_CONFIG)))


def test_config_basic_gets_one_role_per_namespace_and_nothing_cluster_wide() -> None:
    docs = documents(render_rbac(load_config(ROOT / "config-basic.yaml")))
    assert [(doc["kind"], doc["metadata"]["namespace"]) for doc in docs] == [
        ("Role", "batch"),
        ("RoleBinding", "batch"),
        ("Role", "media"),
        ("RoleBinding", "media"),
    ]
    assert find(docs, "Role", "media")["rules"] == [
        rule("apps", "deployments", ["list", "watch"]),
        rule("apps", "deployments/scale", ["patch"], ["jellyfin"]),
    ]
    # the Job is also the kind its action launches: create, and deletecollection to clean up
    assert find(docs, "Role", "batch")["rules"] == [
        rule("batch", "jobs", ["list", "watch", "create", "deletecollection"]),
        rule("batch", "jobs", ["delete"], ["backup"]),
    ]


def test_launch_and_delete_get_create_delete_of_the_object_and_deletecollections(
    tmp_path: Path,
) -> None:
    config = """\
mqtt: {client-id: rbac-test}
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
    action:
      topic: jellyfin/cmd
      launch: !relpath job.yaml
      values: {RUN: launch, STOP: delete}
"""
    role = find(
        documents(render_rbac(load_config(write_config(tmp_path, config)))), "Role", "media"
    )
    # Binding._delete: DELETE the object, then a labelled deletecollection per kind
    assert role["rules"] == [
        rule("apps", "deployments", ["deletecollection"]),
        rule("apps", "deployments", ["delete"], ["jellyfin"]),
        rule("batch", "jobs", ["create", "deletecollection"]),
    ]


ACTION_ONLY = """\
mqtt: {client-id: rbac-test}
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
    action:
      topic: jellyfin/cmd
"""


@pytest.mark.parametrize(
    ("action", "rules"),
    [
        pytest.param(
            "      launch: !relpath job.yaml\n      values: {RUN: launch}\n",
            [rule("batch", "jobs", ["create"])],
            id="launch-only",
        ),
        pytest.param(
            "      values: {STOP: delete}\n",
            [
                rule("apps", "deployments", ["deletecollection"]),
                rule("apps", "deployments", ["delete"], ["jellyfin"]),
            ],
            id="delete-only",
        ),
        pytest.param(
            "      launch: !relpath job.yaml\n      values: {STOP: delete}\n",
            [
                rule("apps", "deployments", ["deletecollection"]),
                rule("apps", "deployments", ["delete"], ["jellyfin"]),
            ],
            id="template-never-launched",
        ),
        pytest.param(
            "      launch: !relpath job.yaml\n",  # no map: the payload itself is the verb
            [
                rule("apps", "deployments", ["deletecollection"]),
                rule("apps", "deployments", ["delete"], ["jellyfin"]),
                rule("batch", "jobs", ["create", "deletecollection"]),
            ],
            id="no-map",
        ),
    ],
)
def test_an_action_gets_only_the_verbs_its_map_can_lead_to(
    tmp_path: Path, action: str, rules: list[dict[str, Any]]
) -> None:
    config = load_config(write_config(tmp_path, ACTION_ONLY + action))
    assert find(documents(render_rbac(config)), "Role", "media")["rules"] == rules


def test_cluster_scoped_and_custom_kinds_without_namespace_go_to_a_cluster_role(
    custom_rbac: str,
) -> None:
    cluster_role = find(documents(custom_rbac), "ClusterRole")
    assert cluster_role["metadata"]["name"] == "mqtt-kube:mqtt-kube"
    assert cluster_role["rules"] == [
        rule("", "nodes", ["list", "watch"]),
        rule("", "nodes", ["patch"], ["node-1"]),
        rule("example.com", "clusters", ["list", "watch"]),
        {
            "nonResourceURLs": ["/api", "/apis", "/apis/example.com/v1", "/version"],
            "verbs": ["get"],
        },
    ]


def test_a_namespaced_custom_resource_gets_scale_status_and_action_rules(custom_rbac: str) -> None:
    role = find(documents(custom_rbac), "Role", "media")
    assert role["rules"] == [
        rule("batch", "jobs", ["create", "deletecollection"]),
        rule("example.com", "backups", ["list", "watch", "deletecollection"]),
        rule("example.com", "backups", ["patch", "delete"], ["nightly"]),
        # whether a custom resource has /scale is unknown offline: both are granted
        rule("example.com", "backups/scale", ["patch"], ["nightly"]),
        rule("example.com", "backups/status", ["patch"], ["nightly"]),
    ]


def test_each_role_is_bound_to_the_service_account(custom_rbac: str) -> None:
    docs = documents(custom_rbac)
    subject = [{"kind": "ServiceAccount", "name": "mqtt-kube", "namespace": "mqtt-kube"}]
    binding = find(docs, "RoleBinding", "media")
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "Role",
        "name": "mqtt-kube",
    }
    assert binding["subjects"] == subject
    cluster_binding = find(docs, "ClusterRoleBinding")
    assert cluster_binding["roleRef"]["name"] == find(docs, "ClusterRole")["metadata"]["name"]
    assert cluster_binding["subjects"] == subject


def test_guessed_plurals_are_said_so_in_a_comment_above_their_role(custom_rbac: str) -> None:
    chunks = custom_rbac.split("---\n")
    role_text = next(chunk for chunk in chunks if "\nkind: Role\n" in f"\n{chunk}")
    cluster_text = next(chunk for chunk in chunks if "\nkind: ClusterRole\n" in f"\n{chunk}")
    assert "# Backup (example.com/v1) is not a built-in kind" in role_text
    assert "guessed offline" in role_text
    assert "Cluster (example.com/v1)" not in role_text
    assert "# Cluster (example.com/v1) is not a built-in kind" in cluster_text


def test_built_in_kinds_need_no_discovery_urls(tmp_path: Path) -> None:
    config = """\
mqtt: {client-id: rbac-test}
bindings:
  - namespace: media
    resource: Pod
    name: web
    watch: {locus: status.phase, topic: web/phase}
"""
    text = render_rbac(load_config(write_config(tmp_path, config)))
    assert "nonResourceURLs" not in text
    assert "ClusterRole" not in text
    assert find(documents(text), "Role", "media")["rules"] == [rule("", "pods", ["list", "watch"])]


def test_a_status_field_is_patched_through_the_status_subresource(tmp_path: Path) -> None:
    config = """\
mqtt: {client-id: rbac-test}
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
    patch:
      - {locus: status.observedGeneration, topic: jf/generation/set}
      - {locus: spec.paused, topic: jf/paused/set}
"""
    role = find(
        documents(render_rbac(load_config(write_config(tmp_path, config)))), "Role", "media"
    )
    assert role["rules"] == [
        rule("apps", "deployments", ["patch"], ["jellyfin"]),
        rule("apps", "deployments/status", ["patch"], ["jellyfin"]),
    ]


def test_cluster_wide_watches_list_across_namespaces(tmp_path: Path) -> None:
    config = """\
mqtt: {client-id: rbac-test}
kubernetes: {watch-scope: cluster}
bindings:
  - namespace: media
    resource: Deployment
    name: jellyfin
    watch: {locus: status.availableReplicas, topic: jf/state}
    patch: {locus: spec.replicas, topic: jf/set}
"""
    docs = documents(render_rbac(load_config(write_config(tmp_path, config))))
    assert find(docs, "ClusterRole")["rules"] == [rule("apps", "deployments", ["list", "watch"])]
    assert find(docs, "Role", "media")["rules"] == [
        rule("apps", "deployments/scale", ["patch"], ["jellyfin"])
    ]


SPREAD = """\
mqtt: {client-id: rbac-test}
bindings:
  - {namespace: media, resource: Deployment, name: jf, watch: {locus: spec.replicas, topic: a}}
  - {namespace: home, resource: Deployment, name: hass, watch: {locus: spec.replicas, topic: b}}
  - {namespace: home, resource: StatefulSet, name: db, watch: {locus: spec.replicas, topic: c}}
  - {namespace: home, resource: StatefulSet, name: mq, watch: {locus: spec.replicas, topic: d}}
"""


def test_by_default_a_kind_spanning_namespaces_is_listed_in_each_namespace_only(
    tmp_path: Path,
) -> None:
    docs = documents(render_rbac(load_config(write_config(tmp_path, SPREAD))))
    assert "ClusterRole" not in [doc["kind"] for doc in docs]
    assert find(docs, "Role", "media")["rules"] == [rule("apps", "deployments", ["list", "watch"])]
    assert find(docs, "Role", "home")["rules"] == [
        rule("apps", "deployments", ["list", "watch"]),
        rule("apps", "statefulsets", ["list", "watch"]),
    ]


def test_namespace_scope_keeps_every_watch_in_namespaced_roles(tmp_path: Path) -> None:
    text = SPREAD.replace("bindings:", "kubernetes: {watch-scope: namespace}\nbindings:")
    docs = documents(render_rbac(load_config(write_config(tmp_path, text))))
    assert "ClusterRole" not in [doc["kind"] for doc in docs]
    assert find(docs, "Role", "media")["rules"] == [rule("apps", "deployments", ["list", "watch"])]
    assert find(docs, "Role", "home")["rules"] == [
        rule("apps", "deployments", ["list", "watch"]),
        rule("apps", "statefulsets", ["list", "watch"]),
    ]


def test_leader_election_may_only_touch_its_own_lease(tmp_path: Path) -> None:
    config = """\
mqtt: {client-id: Living Room}
bindings:
  - namespace: media
    resource: Pod
    name: web
    watch: {locus: status.phase, topic: web/phase}
"""
    text = render_rbac(load_config(write_config(tmp_path, config)), leader_elect=True)
    assert find(documents(text), "Role", "mqtt-kube")["rules"] == [
        rule("coordination.k8s.io", "leases", ["create"]),
        rule("coordination.k8s.io", "leases", ["get", "update"], ["mqtt-kube-living-room"]),
    ]


def test_namespace_and_service_account_options_name_the_subject(tmp_path: Path) -> None:
    config = load_config(write_config(tmp_path, CUSTOM_CONFIG))
    docs = documents(render_rbac(config, namespace="automation", service_account="bridge"))
    subject = {"kind": "ServiceAccount", "name": "bridge", "namespace": "automation"}
    for doc in docs:
        if doc["kind"].endswith("Binding"):
            assert doc["subjects"] == [subject]
    assert find(docs, "Role", "media")["metadata"]["name"] == "bridge"
    assert find(docs, "ClusterRole")["metadata"]["name"] == "automation:bridge"


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Backup", "backups"),
        ("Policy", "policies"),
        ("Gateway", "gateways"),
        ("Ingress", "ingresses"),
        ("Box", "boxes"),
        ("Patch", "patches"),
        ("VirtualMachine", "virtualmachines"),
    ],
)
def test_the_plural_of_a_custom_kind_is_the_lowercase_english_plural(
    kind: str, plural: str
) -> None:
    assert guess_plural(kind) == plural


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("apiVersion: batch/v1\nmetadata: {}\n", "no top-level `kind:` line"),
        ("kind: ${action.kind}\napiVersion: batch/v1\n", "`kind: ${action.kind}` is templated"),
        ("kind: Job\n", "no top-level `apiVersion:` line"),
    ],
)
def test_a_template_whose_kind_cannot_be_read_is_named(
    tmp_path: Path, template: str, message: str
) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(template)
    with pytest.raises(RbacError) as caught:
        template_kind(LaunchTemplate.load(str(path)))
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)


def test_the_template_kind_is_read_from_top_level_lines_only(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        "# kind: Comment\nmetadata:\n  kind: Nested\n"
        "apiVersion: 'batch/v1'\nkind: Job  # launched\n"
    )
    assert template_kind(LaunchTemplate.load(str(path))) == ("batch/v1", "Job")


def test_the_command_prints_yaml_for_kubectl(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, CUSTOM_CONFIG)
    assert main(["rbac", str(path), "--namespace", "automation"]) == 0
    out = capsys.readouterr().out
    assert out == render_rbac(load_config(path), namespace="automation")


def test_the_command_reports_a_config_mistake_with_status_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(tmp_path, CUSTOM_CONFIG.replace("locus: status.phase", "locus: '[['", 1))
    assert main(["rbac", str(path)]) == 2
    captured = capsys.readouterr()
    assert "bindings[1].watch[0].locus" in captured.err
    assert captured.out == ""
