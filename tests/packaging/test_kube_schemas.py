"""Every object in deploy/ is valid against the Kubernetes API's own schemas, offline.

kubernetes-validate ships the OpenAPI schemas of each Kubernetes minor version as JSON
Schema; the strict ones refuse any field the API does not define, which is what a
server-side apply would refuse too (a typo in a field name is otherwise dropped silently by
older clients). The objects are checked against the oldest and the newest schemas the
package ships, so the manifests neither need a new API nor lean on a removed one.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from kubernetes_validate import utils

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
KUBERNETES = sorted({utils.major_minor(version) for version in utils.all_versions()})
CHECKED = (KUBERNETES[0], KUBERNETES[-1])


def objects() -> list[tuple[str, dict[str, Any]]]:
    """(where, object) of every Kubernetes object in deploy/, the kustomization aside."""
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":  # kustomize's own file, not an API object
            continue
        for index, document in enumerate(yaml.safe_load_all(path.read_text())):
            if document:
                found.append((f"{path.name}#{index} {document['kind']}", document))
    return found


def validation_error(document: dict[str, Any], version: str) -> str | None:
    try:
        kubernetes_validate.validate(document, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(part) for part in exc.path)
        return f"{path}: {exc.message}"
    return None


@pytest.mark.parametrize("version", CHECKED)
@pytest.mark.parametrize(("where", "document"), objects(), ids=[where for where, _ in objects()])
def test_the_object_is_valid_in_kubernetes(
    where: str, document: dict[str, Any], version: str
) -> None:
    assert validation_error(document, version) is None, f"{where} in Kubernetes {version}"


def test_every_kind_in_deploy_is_checked() -> None:
    kinds = {document["kind"] for _, document in objects()}
    assert kinds == {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
    }


def test_a_misspelt_or_mistyped_field_is_refused() -> None:
    (deployment,) = [doc for _, doc in objects() if doc["kind"] == "Deployment"]
    container = copy.deepcopy(deployment)
    (spec,) = container["spec"]["template"]["spec"]["containers"]
    spec["imagePulPolicy"] = "IfNotPresent"
    error = validation_error(container, CHECKED[-1])
    assert error is not None
    assert "'imagePulPolicy' was unexpected" in error
    replicas = copy.deepcopy(deployment)
    replicas["spec"]["replicas"] = "1"
    error = validation_error(replicas, CHECKED[-1])
    assert error is not None
    assert error.startswith("spec.replicas: ")
