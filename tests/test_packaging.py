"""The three ways to install: container image, Home Assistant add-on, Kubernetes manifests.

No Docker engine runs here, so the Dockerfiles are checked by reading them: stages, user,
entry point, labels, and that every path they copy exists and passes .dockerignore. The
image's health check command is run for real against a local HTTP server. The add-on's
manifest, schema, translations, images and build files are checked against each other and
against the entry module; the Kubernetes manifests parse, kustomize lists exactly them, the
Deployment is locked down, the ConfigMap carries config-basic.yaml and its template, and
rbac.yaml is what `mqtt-kube rbac config-basic.yaml` prints.
"""

from __future__ import annotations

import asyncio
import dataclasses
import fnmatch
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import zlib
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from mqtt_kube import __version__
from mqtt_kube.addon import AddonOptions
from mqtt_kube.rbac import render_rbac
from mqtt_kube.schema import load_config

ROOT = Path(__file__).resolve().parent.parent
ADDON = ROOT / "hassio-addon"
DEPLOY = ROOT / "deploy"
HA_SCHEMA_TYPE = re.compile(
    r"(str|bool|int|float|email|url|password|port|match\(.+\)|list\(.+\)|device)(\(.*\))?\??"
)


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of a Dockerfile, continuation lines joined, comments dropped."""
    joined: list[str] = []
    pending = ""
    for line in path.read_text().splitlines():
        stripped = line.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        joined.append(pending + stripped)
        pending = ""
    assert not pending, f"{path} ends inside a continued line"
    result = []
    for entry in joined:
        word, _, rest = entry.partition(" ")
        result.append((word.upper(), rest.strip()))
    return result


def args_of(path: Path, instruction: str) -> list[str]:
    return [rest for word, rest in instructions(path) if word == instruction]


def yaml_file(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def png_size(path: Path) -> tuple[int, int]:
    """Width and height of a PNG, after checking every chunk's CRC and the image data."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    offset, chunks, idat = 8, [], b""
    while offset < len(data):
        (length,) = struct.unpack(">I", data[offset : offset + 4])
        tag = data[offset + 4 : offset + 8]
        body = data[offset + 8 : offset + 8 + length]
        (crc,) = struct.unpack(">I", data[offset + 8 + length : offset + 12 + length])
        assert crc == zlib.crc32(tag + body), f"{path}: bad CRC in {tag!r}"
        chunks.append(tag)
        idat += body if tag == b"IDAT" else b""
        offset += 12 + length
    assert chunks[0] == b"IHDR"
    assert chunks[-1] == b"IEND"
    width, height = struct.unpack(">II", data[16:24])
    assert len(zlib.decompress(idat)) == height * (1 + width * 4)  # RGBA rows, filter byte each
    return width, height


# -- container image ---------------------------------------------------------------------


def test_the_image_builds_a_wheel_in_one_stage_and_installs_only_wheels_in_the_next() -> None:
    dockerfile = ROOT / "Dockerfile"
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in dockerfile.read_text()
    assert args_of(dockerfile, "FROM") == ["${PYTHON_IMAGE} AS build", "${PYTHON_IMAGE}"]
    runs = args_of(dockerfile, "RUN")
    assert runs[0] == "pip wheel --no-cache-dir --wheel-dir /wheels ."
    assert "--no-index --find-links /wheels mqtt-kube" in runs[1]
    assert "from=build,source=/wheels" in runs[1]


def test_the_image_runs_mqtt_kube_on_config_yaml_as_uid_1000() -> None:
    dockerfile = ROOT / "Dockerfile"
    assert args_of(dockerfile, "USER") == ["1000:1000"]
    assert "useradd --uid 1000" in args_of(dockerfile, "RUN")[1]
    assert json.loads(args_of(dockerfile, "ENTRYPOINT")[0]) == ["mqtt-kube"]
    assert json.loads(args_of(dockerfile, "CMD")[0]) == ["/config/config.yaml"]
    assert args_of(dockerfile, "EXPOSE") == ["8080"]


def test_the_image_carries_oci_labels_with_the_version_from_a_build_arg() -> None:
    dockerfile = ROOT / "Dockerfile"
    labels = " ".join(args_of(dockerfile, "LABEL"))
    for key in ("title", "description", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert "VERSION=0.0.0" in args_of(dockerfile, "ARG")


def test_the_image_has_no_architecture_specific_step() -> None:
    text = (ROOT / "Dockerfile").read_text()
    body = "\n".join(line for line in text.splitlines() if not line.startswith("#"))
    assert not re.search(r"amd64|arm64|aarch64|x86_64|TARGETARCH", body)
    assert "docker buildx build --platform linux/amd64,linux/arm64" in text


def dockerignored(relative: str) -> bool:
    """Whether .dockerignore keeps `relative` out of the build context (last match wins)."""
    parts = Path(relative).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        pattern = line.removeprefix("!").rstrip("/")
        if pattern.startswith("**/"):
            hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in parts)
        else:
            hit = any(fnmatch.fnmatch(prefix, pattern) for prefix in prefixes)
        if hit:
            ignored = not line.startswith("!")
    return ignored


def test_every_path_the_image_copies_exists_and_is_in_the_build_context() -> None:
    copied = [
        source
        for rest in args_of(ROOT / "Dockerfile", "COPY")
        if not rest.startswith("--from")
        for source in rest.split()[:-1]
    ]
    assert copied == ["pyproject.toml", "README.md", "mqtt_kube"]
    for source in copied:
        assert (ROOT / source).exists(), source
        assert not dockerignored(source), f".dockerignore leaves out {source}"
    assert not dockerignored("mqtt_kube/cli.py")
    for kept_out in (".venv", ".git", "tests/test_rbac.py", "deploy/deployment.yaml"):
        assert dockerignored(kept_out), f".dockerignore lets {kept_out} in"


@pytest.fixture
async def health_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A local /api/health whose status the test sets; yields its port and the status."""
    status = [200]

    async def health(_: web.Request) -> web.Response:
        return web.Response(status=status[0], text="{}")

    app = web.Application()
    app.router.add_get("/api/health", health)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        yield str(runner.addresses[0][1]), status
    finally:
        await runner.cleanup()


async def test_the_image_health_check_passes_on_200_and_fails_otherwise(
    health_server: tuple[str, list[int]],
) -> None:
    healthcheck = args_of(ROOT / "Dockerfile", "HEALTHCHECK")[0]
    assert "curl" not in healthcheck
    assert "wget" not in healthcheck
    command = json.loads(healthcheck.partition("CMD ")[2])
    assert command[:2] == ["python", "-c"]
    assert "http://127.0.0.1:8080/api/health" in command[2]
    port, status = health_server
    code = command[2].replace(":8080/", f":{port}/")

    async def exit_status() -> int:
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", code)
        return await process.wait()

    assert await exit_status() == 0
    status[0] = 503
    assert await exit_status() != 0


# -- Home Assistant add-on ---------------------------------------------------------------


def test_the_addon_manifest_has_todays_keys() -> None:
    config = yaml_file(ADDON / "config.yaml")
    assert config["version"] == __version__
    assert config["slug"] == "mqtt_kube"
    for key in ("name", "description", "url"):
        assert isinstance(config[key], str)
        assert config[key]
    assert config["arch"] == ["aarch64", "amd64"]
    assert config["init"] is False
    assert config["startup"] == "services"
    assert config["services"] == ["mqtt:need"]
    assert config["map"] == ["addon_config:rw"]
    assert config["ports"] == {"8080/tcp": None}
    assert config["watchdog"] == "http://[HOST]:[PORT:8080]/api/health"


def test_the_addon_schema_has_every_option_the_entry_reads() -> None:
    config = yaml_file(ADDON / "config.yaml")
    schema, options = config["schema"], config["options"]
    assert set(schema) == {f.name for f in dataclasses.fields(AddonOptions)}
    assert set(options) <= set(schema)
    for key, kind in schema.items():
        assert HA_SCHEMA_TYPE.fullmatch(kind), f"{key}: {kind!r} is not a Supervisor schema type"
        optional = kind.endswith("?")
        assert optional == (key not in options), f"{key}: optional iff it has no default"
    assert options == {"log_level": "INFO", "config_file": "config.yaml"}
    assert schema["log_level"] == "list(DEBUG|INFO|WARNING|ERROR)"
    assert schema["kubeconfig"] == "str?"
    assert schema["mqtt_port"] == "port?"
    assert schema["mqtt_password"] == "password?"


def test_the_addon_translations_name_every_option_and_port() -> None:
    config = yaml_file(ADDON / "config.yaml")
    english = yaml_file(ADDON / "translations" / "en.yaml")
    assert set(english["configuration"]) == set(config["schema"])
    for key, text in english["configuration"].items():
        assert set(text) == {"name", "description"}, key
        assert all(isinstance(value, str) and value for value in text.values()), key
    assert {port.lower() for port in english["network"]} == set(config["ports"])


def test_the_addon_builds_on_the_home_assistant_python_image_of_each_arch() -> None:
    config = yaml_file(ADDON / "config.yaml")
    build = yaml_file(ADDON / "build.yaml")
    assert set(build["build_from"]) == set(config["arch"])
    for arch, image in build["build_from"].items():
        assert image.startswith(f"ghcr.io/home-assistant/{arch}-base-python:3.12-"), image
    dockerfile = ADDON / "Dockerfile"
    assert args_of(dockerfile, "FROM") == ["${BUILD_FROM}"]
    assert any(arg.startswith("BUILD_FROM=") for arg in args_of(dockerfile, "ARG"))
    assert "BUILD_VERSION" in args_of(dockerfile, "ARG")
    assert 'pip3 install --no-cache-dir "${MQTT_KUBE_SOURCE}"' in args_of(dockerfile, "RUN")
    assert json.loads(args_of(dockerfile, "CMD")[0]) == ["python3", "-m", "mqtt_kube.addon"]


def test_the_addon_has_docs_changelog_icon_and_logo() -> None:
    assert "## Options" in (ADDON / "DOCS.md").read_text()
    assert f"## {__version__}" in (ADDON / "CHANGELOG.md").read_text()
    assert png_size(ADDON / "icon.png") == (256, 256)
    width, height = png_size(ADDON / "logo.png")
    assert width > height


def test_the_repository_is_addable_to_the_addon_store() -> None:
    repository = yaml_file(ROOT / "repository.yaml")
    assert repository["name"]
    assert repository["maintainer"]
    assert repository["url"] == yaml_file(ADDON / "config.yaml")["url"]


def project_files() -> Iterator[Path]:
    """Every file of the working tree, skipping hidden folders (.git, .venv) and build output."""
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith(".") and d not in {"build", "dist"}]
        for name in files:
            yield (Path(folder) / name).relative_to(ROOT)


def test_the_addon_manifest_is_the_only_config_yaml_in_the_repository() -> None:
    # The Supervisor takes every config.yaml it finds in a repository for an add-on.
    found = [path for path in project_files() if path.name in {"config.yaml", "config.json"}]
    assert found == [Path("hassio-addon/config.yaml")]


# -- Kubernetes manifests ----------------------------------------------------------------


def deploy_objects() -> dict[tuple[str, str | None, str], dict[str, Any]]:
    objects = {}
    for path in sorted(DEPLOY.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in yaml_documents(path):
            meta = doc["metadata"]
            objects[(doc["kind"], meta.get("namespace"), meta["name"])] = doc
    return objects


def test_kustomize_lists_exactly_the_manifests_in_the_folder() -> None:
    kustomization = yaml_file(DEPLOY / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    assert "namespace" not in kustomization  # it would move the Roles out of their namespaces
    resources = kustomization["resources"]
    assert all((DEPLOY / name).is_file() for name in resources)
    manifests = {p.name for p in DEPLOY.glob("*.yaml")} - {"kustomization.yaml"}
    assert sorted(resources) == sorted(manifests)


@pytest.mark.skipif(shutil.which("kubectl") is None, reason="needs kubectl (offline)")
def test_kustomize_builds_every_object_unchanged_in_namespace() -> None:
    result = subprocess.run(
        ["kubectl", "kustomize", str(DEPLOY)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    built = [doc for doc in yaml.safe_load_all(result.stdout) if doc]
    keys = [(d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]) for d in built]
    assert sorted(keys, key=str) == sorted(deploy_objects(), key=str)


def test_every_manifest_parses_into_kubernetes_objects() -> None:
    objects = deploy_objects()
    assert {kind for kind, _, _ in objects} >= {
        "Namespace",
        "ServiceAccount",
        "Role",
        "RoleBinding",
        "ConfigMap",
        "Deployment",
    }
    for (kind, namespace, _), doc in objects.items():
        assert doc["apiVersion"], kind
        if kind not in {"Namespace", "ClusterRole", "ClusterRoleBinding"}:
            assert namespace, f"{kind} needs an explicit namespace"


def test_the_deployment_is_one_locked_down_replica() -> None:
    objects = deploy_objects()
    deployment = objects[("Deployment", "mqtt-kube", "mqtt-kube")]
    spec = deployment["spec"]
    assert spec["replicas"] == 1
    assert spec["strategy"] == {"type": "Recreate"}
    pod = spec["template"]["spec"]
    assert ("ServiceAccount", "mqtt-kube", pod["serviceAccountName"]) in objects
    assert pod["automountServiceAccountToken"] is True
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"].endswith(f":{__version__}")
    assert container["args"] == ["/config/config.yaml"]
    assert container["livenessProbe"]["httpGet"]["path"] == "/api/health"
    assert container["readinessProbe"]["httpGet"]["path"] == "/api/ready"
    assert container["ports"] == [{"name": "http", "containerPort": 8080}]
    assert set(container["resources"]) == {"requests", "limits"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    volumes = {volume["name"]: volume for volume in pod["volumes"]}
    mounts = {mount["name"]: mount["mountPath"] for mount in container["volumeMounts"]}
    assert mounts["config"] == "/config"
    config_map = volumes["config"]["configMap"]["name"]
    assert ("ConfigMap", "mqtt-kube", config_map) in objects


def test_the_config_map_carries_config_basic_and_its_template() -> None:
    (config_map,) = [doc for doc in yaml_documents(DEPLOY / "configmap.yaml")]
    data = config_map["data"]
    assert data["config.yaml"] == (ROOT / "config-basic.yaml").read_text(), (
        "deploy/configmap.yaml is out of date; regenerate it (see docs/readme/install.md)"
    )
    config = load_config(ROOT / "config-basic.yaml")
    templates = {
        Path(action.launch.path)
        for binding in config.bindings
        for action in binding.action
        if action.launch is not None
    }
    assert templates, "config-basic.yaml launches nothing"
    for template in templates:
        assert data[template.name] == template.read_text()
    assert set(data) == {"config.yaml"} | {template.name for template in templates}


def test_the_deploy_rbac_is_what_the_rbac_command_prints_for_config_basic() -> None:
    expected = render_rbac(load_config(ROOT / "config-basic.yaml"))
    assert (DEPLOY / "rbac.yaml").read_text() == expected, (
        "deploy/rbac.yaml is out of date: mqtt-kube rbac config-basic.yaml > deploy/rbac.yaml"
    )
