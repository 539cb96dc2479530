"""One version, written once: `__version__` in mqtt_kube/__init__.py.

The wheel reads it from there (pyproject's dynamic version). Everything else that names a
version must say the same, and each test here fails naming the place that does not: the
add-on's manifest (the Supervisor pulls the image tag equal to it), the CHANGELOG's newest
section (the GitHub release's notes), the Deployment's image tag, and every build or run
command in the docs and the Dockerfile's comments. The images' labels are written nowhere:
the release workflow passes the version it read from the package (refusing a tag that names
another) as VERSION, and the Dockerfile installs exactly `mqtt-kube==$VERSION`, so a label
cannot disagree with the package it is on. The workflow's own steps are run here, as the
runner would run them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from mqtt_kube import __version__

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "hassio-addon"
RELEASE = ROOT / ".github" / "workflows" / "release.yml"
VERSION_EXPRESSION = "${{ needs.version.outputs.version }}"
# How the docs name a version: an image tag of ours, or a VERSION build argument.
DOC_VERSION = re.compile(r"(?:mqtt-kube:|VERSION=)(\d+(?:\.\d+)+(?:[-+]?[A-Za-z0-9]+)*)")


def versions_named(root: Path) -> dict[str, str]:
    """Each place under `root` that names the release's version, and the version it names."""
    found: dict[str, str] = {}
    config = yaml.safe_load((root / "hassio-addon" / "config.yaml").read_text())
    found["hassio-addon/config.yaml `version`"] = str(config["version"])
    changelog = (root / "hassio-addon" / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## (.+)$", changelog, flags=re.MULTILINE)
    found["hassio-addon/CHANGELOG.md, its newest section"] = headings[0] if headings else ""
    for document in yaml.safe_load_all((root / "deploy" / "deployment.yaml").read_text()):
        for container in document["spec"]["template"]["spec"]["containers"]:
            tag = container["image"].rpartition(":")[2]
            found[f"deploy/deployment.yaml, image of {container['name']}"] = tag
    docs = [root / "README.md", root / "hassio-addon" / "DOCS.md", *(root / "docs").rglob("*.md")]
    docs.append(root / "Dockerfile")  # its comments show the build commands
    for doc in docs:
        text = doc.read_text()
        for match in DOC_VERSION.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            found[f"{doc.relative_to(root)}:{line} `{match.group(0)}`"] = match.group(1)
    return found


def disagreeing(root: Path) -> list[str]:
    return [
        f"{where} says {version!r}, the package {__version__!r} (mqtt_kube/__init__.py)"
        for where, version in versions_named(root).items()
        if version != __version__
    ]


def test_the_version_is_written_once_in_the_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" not in project["project"]
    assert "version" in project["project"]["dynamic"]
    dynamic = project["tool"]["setuptools"]["dynamic"]["version"]
    assert dynamic == {"attr": "mqtt_kube.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)


def test_everything_that_names_a_version_names_the_package_version() -> None:
    named = versions_named(ROOT)
    assert any("config.yaml" in where for where in named)
    assert any("README.md" in where for where in named)
    assert disagreeing(ROOT) == []


def copy_of_the_versioned_files(tmp_path: Path) -> Path:
    for name in ("hassio-addon", "deploy", "docs"):
        shutil.copytree(ROOT / name, tmp_path / name)
    for name in ("README.md", "Dockerfile"):
        shutil.copy(ROOT / name, tmp_path / name)
    return tmp_path


def test_an_addon_version_other_than_the_package_version_is_named(tmp_path: Path) -> None:
    root = copy_of_the_versioned_files(tmp_path)
    config = root / "hassio-addon" / "config.yaml"
    config.write_text(config.read_text().replace(f'version: "{__version__}"', 'version: "9.9.9"'))
    assert disagreeing(root) == [
        f"hassio-addon/config.yaml `version` says '9.9.9', the package {__version__!r} "
        "(mqtt_kube/__init__.py)"
    ]


def test_a_changelog_without_a_section_for_the_version_on_top_is_named(tmp_path: Path) -> None:
    root = copy_of_the_versioned_files(tmp_path)
    changelog = root / "hassio-addon" / "CHANGELOG.md"
    changelog.write_text(changelog.read_text().replace("## ", "## 9.9.9\n\n- Later.\n\n## ", 1))
    assert disagreeing(root) == [
        f"hassio-addon/CHANGELOG.md, its newest section says '9.9.9', the package "
        f"{__version__!r} (mqtt_kube/__init__.py)"
    ]


# -- the images' labels: the version the release workflow reads, installed exactly ----------


def dockerfile_text() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_image_labels_carry_the_version_pip_installs() -> None:
    text = dockerfile_text()
    assert 'org.opencontainers.image.version="${VERSION}"' in text
    assert 'io.hass.version="${VERSION}"' in text
    assert '"mqtt-kube==${VERSION}"' in text  # another version is not in /wheels: no image
    assert not re.search(r"ARG VERSION=", text)  # no default that could label a build


def release_workflow() -> dict[str, Any]:
    workflow: dict[str, Any] = yaml.safe_load(RELEASE.read_text())
    return workflow


def image_builds() -> list[dict[str, Any]]:
    return [
        step
        for job in release_workflow()["jobs"].values()
        for step in job.get("steps", [])
        if step.get("uses", "").startswith("docker/build-push-action@")
    ]


def test_every_image_the_release_builds_gets_the_package_version() -> None:
    builds = image_builds()
    assert len(builds) == 2  # the service image and the add-on image (one per architecture)
    for step in builds:
        arguments = step["with"]["build-args"].splitlines()
        assert f"VERSION={VERSION_EXPRESSION}" in arguments, step["name"]
        tags = step["with"]["tags"].splitlines()
        assert all(tag.endswith((f":{VERSION_EXPRESSION}", ":latest")) for tag in tags), tags
        assert any(tag.endswith(f":{VERSION_EXPRESSION}") for tag in tags), tags


def run_step(name: str, *, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """A `run:` step of release.yml, by its name, under the shell GitHub gives it."""
    (script,) = [
        step["run"]
        for job in release_workflow()["jobs"].values()
        for step in job.get("steps", [])
        if step.get("name") == name
    ]
    assert "${{" not in script  # expressions come in through `env:`, never into the script
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", script],
        cwd=cwd,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_release_reads_the_version_from_the_package_for_its_tag(tmp_path: Path) -> None:
    output = tmp_path / "output"
    step = "The tag names the package's version"
    done = run_step(step, cwd=ROOT, env={"TAG": f"v{__version__}", "GITHUB_OUTPUT": str(output)})
    assert done.returncode == 0, done.stdout + done.stderr
    assert output.read_text() == f"version={__version__}\n"


@pytest.mark.parametrize("tag", ["v9.9.9", __version__, f"v{__version__}-rc1"])
def test_the_release_refuses_a_tag_that_names_another_version(tmp_path: Path, tag: str) -> None:
    output = tmp_path / "output"
    step = "The tag names the package's version"
    done = run_step(step, cwd=ROOT, env={"TAG": tag, "GITHUB_OUTPUT": str(output)})
    assert done.returncode == 1
    assert f"::error::tag {tag} does not name the package's version ({__version__}" in done.stdout
    assert not output.exists()


def test_the_release_notes_are_the_changelog_section_of_the_version(tmp_path: Path) -> None:
    (tmp_path / "hassio-addon").mkdir()
    shutil.copy(ADDON / "CHANGELOG.md", tmp_path / "hassio-addon" / "CHANGELOG.md")
    done = run_step("Release notes from CHANGELOG", cwd=tmp_path, env={"VERSION": __version__})
    assert done.returncode == 0, done.stdout + done.stderr
    notes = (tmp_path / "release-notes.md").read_text()
    section = (ADDON / "CHANGELOG.md").read_text().split(f"## {__version__}\n", 1)[1]
    assert notes.strip() == section.split("\n## ", 1)[0].strip()
    assert notes.strip().startswith("- ")


def test_the_release_stops_when_the_changelog_lacks_the_version(tmp_path: Path) -> None:
    (tmp_path / "hassio-addon").mkdir()
    shutil.copy(ADDON / "CHANGELOG.md", tmp_path / "hassio-addon" / "CHANGELOG.md")
    done = run_step("Release notes from CHANGELOG", cwd=tmp_path, env={"VERSION": "9.9.9"})
    assert done.returncode == 1
    assert "::error::hassio-addon/CHANGELOG.md has no section '## 9.9.9'" in done.stdout
