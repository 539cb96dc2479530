"""The three ways to install: container image, Home Assistant add-on, Kubernetes manifests.

No Docker engine runs here, so the Dockerfile is checked by reading it: stages, user, entry
point, labels, and that every path it copies exists and passes .dockerignore. The image's
health check command is run for real against a local HTTP server. The add-on's manifest,
schema, translations and images are checked against each other, against the entry module
and against the Dockerfile's `addon` target it pulls, and its docs against the images a
release must push; the Kubernetes manifests parse, kustomize lists exactly them, the
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
from mqtt_kube.addon.options import AddonOptions
from mqtt_kube.config.load import load_config
from mqtt_kube.kube.rbac import render_rbac
from tests.support.paths import ROOT

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


def stages(path: Path) -> dict[str, list[tuple[str, str]]]:
    """A Dockerfile's instructions by stage: its `AS` name, "" for the unnamed (last) one."""
    found: dict[str, list[tuple[str, str]]] = {}
    current: list[tuple[str, str]] | None = None
    for word, rest in instructions(path):
        if word == "FROM":
            current = found.setdefault(rest.partition(" AS ")[2], [])
        if current is not None:  # ARGs before the first FROM belong to no stage
            current.append((word, rest))
    return found


def stage_args(path: Path, stage: str, instruction: str) -> list[str]:
    return [rest for word, rest in stages(path)[stage] if word == instruction]


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


def test_the_images_build_wheels_in_one_stage_and_install_only_wheels_in_the_next() -> None:
    dockerfile = ROOT / "Dockerfile"
    assert "ARG PYTHON_IMAGE=python:3.12-slim" in dockerfile.read_text()
    assert args_of(dockerfile, "FROM") == [
        "${PYTHON_IMAGE} AS build",
        "${PYTHON_IMAGE} AS runtime",
        "runtime AS addon",
        "runtime",  # last, so a plain `docker build .` makes the service image
    ]
    assert stage_args(dockerfile, "build", "RUN") == [
        "pip wheel --no-cache-dir --wheel-dir /wheels ."
    ]
    guard, install = stage_args(dockerfile, "runtime", "RUN")
    assert guard.startswith(': "${VERSION:?')  # no build without the version
    assert '--no-index --find-links /wheels "mqtt-kube==${VERSION}"' in install
    assert "from=build,source=/wheels" in install
    assert stage_args(dockerfile, "runtime", "USER") == []


def test_the_image_runs_mqtt_kube_on_config_yaml_as_uid_1000() -> None:
    dockerfile = ROOT / "Dockerfile"
    assert stage_args(dockerfile, "", "USER") == ["1000:1000"]
    (useradd,) = stage_args(dockerfile, "", "RUN")
    assert useradd.startswith("useradd --uid 1000 ")
    assert args_of(dockerfile, "USER") == ["1000:1000"]  # no other stage switches user
    assert json.loads(stage_args(dockerfile, "", "ENTRYPOINT")[0]) == ["mqtt-kube"]
    assert json.loads(stage_args(dockerfile, "", "CMD")[0]) == ["/config/config.yaml"]
    assert stage_args(dockerfile, "", "EXPOSE") == ["8080"]


def test_the_images_carry_oci_labels_with_the_version_from_a_build_arg() -> None:
    dockerfile = ROOT / "Dockerfile"
    labels = " ".join(stage_args(dockerfile, "runtime", "LABEL"))
    for key in ("title", "description", "source", "licenses"):
        assert f"org.opencontainers.image.{key}=" in labels
    assert 'org.opencontainers.image.version="${VERSION}"' in labels
    assert stage_args(dockerfile, "runtime", "ARG") == ["VERSION"]


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
    kept_out_paths = (
        ".venv",
        ".git",
        "tests/test_rbac.py",
        "deploy/deployment.yaml",
        "mqtt_kube/testing/fakekube.py",
    )
    for kept_out in kept_out_paths:
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
    assert args_of(ROOT / "Dockerfile", "HEALTHCHECK") == stage_args(
        ROOT / "Dockerfile", "", "HEALTHCHECK"
    )  # the add-on's health is the Supervisor's watchdog
    healthcheck = stage_args(ROOT / "Dockerfile", "", "HEALTHCHECK")[0]
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
    assert "init" not in config  # Docker's init: the image has none of its own
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
    assert schema["kubernetes_server"] == "url?"
    assert schema["mqtt_port"] == "port?"
    assert schema["mqtt_password"] == "password?"
    assert schema["mqtt_cafile"] == "str?"


def test_the_addon_translations_name_every_option_and_port() -> None:
    config = yaml_file(ADDON / "config.yaml")
    english = yaml_file(ADDON / "translations" / "en.yaml")
    assert set(english["configuration"]) == set(config["schema"])
    for key, text in english["configuration"].items():
        assert set(text) == {"name", "description"}, key
        assert all(isinstance(value, str) and value for value in text.values()), key
    assert {port.lower() for port in english["network"]} == set(config["ports"])


def test_the_addon_is_pulled_as_the_dockerfiles_addon_target() -> None:
    config = yaml_file(ADDON / "config.yaml")
    # With `image`, the Supervisor pulls `<image>:<version>` and never builds the folder.
    assert config["image"] == "ghcr.io/mqtt-kube/{arch}-addon-mqtt-kube"
    assert not (ADDON / "Dockerfile").exists()
    assert not (ADDON / "build.yaml").exists()
    dockerfile = ROOT / "Dockerfile"
    labels = " ".join(stage_args(dockerfile, "addon", "LABEL"))
    for label in ('io.hass.type="addon"', 'io.hass.version="${VERSION}"'):
        assert label in labels
    assert 'io.hass.arch="${BUILD_ARCH}"' in labels
    assert stage_args(dockerfile, "addon", "ARG") == ["VERSION", "BUILD_ARCH"]
    (guard,) = stage_args(dockerfile, "addon", "RUN")
    assert guard.startswith(': "${BUILD_ARCH:?')  # no image labelled with an empty arch
    assert stage_args(dockerfile, "addon", "USER") == []  # root, as the Supervisor's folders
    assert json.loads(stage_args(dockerfile, "addon", "CMD")[0]) == [
        "python3",
        "-m",
        "mqtt_kube.addon",
    ]
    assert stage_args(dockerfile, "addon", "ENTRYPOINT") == []


def test_the_addon_docs_name_every_image_a_release_must_push() -> None:
    config = yaml_file(ADDON / "config.yaml")
    platforms = {"aarch64": "linux/arm64", "amd64": "linux/amd64"}
    docs = " ".join((ADDON / "DOCS.md").read_text().replace("\\\n", " ").split())
    for arch in config["arch"]:
        image = config["image"].format(arch=arch)
        command = (
            f"docker buildx build --target addon --platform {platforms[arch]} "
            f"--build-arg VERSION={__version__} --build-arg BUILD_ARCH={arch} "
            f"-t {image}:{__version__} --push ."
        )
        assert command in docs, f"DOCS.md lacks: {command}"
    assert f"ghcr.io/mqtt-kube/mqtt-kube:{__version__}" in docs


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
        "deploy/configmap.yaml is out of date; regenerate it (see docs/operations.md)"
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
