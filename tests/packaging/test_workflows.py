"""The GitHub Actions workflows, beyond what actionlint (in `make lint`) checks.

`ci.yml` runs `.ci/run` as root on every push to a branch and every pull request. The
release workflow runs the same checks first, then publishes each artifact a user installs
from: the images the add-on manifest and the Deployment name, for the architectures they
need, and the wheel on PyPI by trusted publishing. Every action is pinned to a released
version, and each job gets only the permissions it uses.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / ".github" / "workflows"
# The Docker platform of each Home Assistant architecture.
PLATFORMS = {
    "aarch64": "linux/arm64",
    "amd64": "linux/amd64",
    "armv7": "linux/arm/v7",
    "armhf": "linux/arm/v6",
    "i386": "linux/386",
}
PINNED = re.compile(r"[\w.-]+/[\w./-]+@v\d+\.\d+\.\d+")


def workflow(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((WORKFLOWS / name).read_text())
    # YAML 1.1 reads the key `on` as true.
    loaded["on"] = loaded.pop(True)
    return loaded


def steps(job: dict[str, Any]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = job.get("steps", [])
    return found


def uses(job: dict[str, Any], action: str) -> list[dict[str, Any]]:
    return [step for step in steps(job) if step.get("uses", "").startswith(f"{action}@")]


def addon_manifest() -> dict[str, Any]:
    manifest: dict[str, Any] = yaml.safe_load((ROOT / "hassio-addon" / "config.yaml").read_text())
    return manifest


def test_there_are_the_ci_and_release_workflows() -> None:
    assert sorted(path.name for path in WORKFLOWS.iterdir()) == ["ci.yml", "release.yml"]


def test_ci_runs_the_ci_script_as_root_on_pushes_and_pull_requests() -> None:
    ci = workflow("ci.yml")
    assert ci["on"] == {"push": {"branches": ["**"]}, "pull_request": None, "workflow_call": None}
    assert ci["permissions"] == {"contents": "read"}
    (job,) = ci["jobs"].values()
    assert job["runs-on"].startswith("ubuntu-")
    (step,) = [step for step in steps(job) if "run" in step]
    assert step["run"] == "sudo --preserve-env=CI,MQTT_KUBE_DEBIAN_MIRROR bash .ci/run"
    assert step["env"] == {"MQTT_KUBE_DEBIAN_MIRROR": "http://deb.debian.org/debian"}
    assert (ROOT / ".ci" / "run").read_text().rstrip().endswith("make test")


def test_every_action_is_pinned_to_a_released_version() -> None:
    for path in sorted(WORKFLOWS.glob("*.yml")):
        for job_name, job in workflow(path.name)["jobs"].items():
            if "uses" in job:  # a reusable workflow of this repository
                assert job["uses"].startswith("./.github/workflows/"), job_name
            for step in steps(job):
                if "uses" in step:
                    assert PINNED.fullmatch(step["uses"]), f"{path.name}: {step['uses']}"


def test_the_release_runs_on_version_tags_after_the_checks() -> None:
    release = workflow("release.yml")
    assert release["on"] == {"push": {"tags": ["v*"]}}
    jobs = release["jobs"]
    assert jobs["ci"]["uses"] == "./.github/workflows/ci.yml"

    def before(name: str) -> set[str]:
        needs = jobs[name].get("needs", [])
        direct = {needs} if isinstance(needs, str) else set(needs)
        return direct.union(*(before(need) for need in direct))

    for name in jobs.keys() - {"ci", "version"}:
        assert {"ci", "version"} <= before(name), name
    assert {"dist", "image", "addon"} <= before("pypi")  # PyPI cannot take a version twice
    assert "pypi" in before("github-release")


def test_each_job_has_only_the_permissions_it_uses() -> None:
    release = workflow("release.yml")
    assert release["permissions"] == {}
    granted = {name: job["permissions"] for name, job in release["jobs"].items()}
    assert granted == {
        "ci": {"contents": "read"},
        "version": {"contents": "read"},
        "dist": {"contents": "read"},
        "image": {"contents": "read", "packages": "write"},
        "addon": {"contents": "read", "packages": "write"},
        "pypi": {"id-token": "write"},
        "github-release": {"contents": "write"},
    }


def test_pypi_gets_the_wheel_and_sdist_by_trusted_publishing() -> None:
    jobs = workflow("release.yml")["jobs"]
    build = "\n".join(step.get("run", "") for step in steps(jobs["dist"]))
    assert "python -m build" in build  # wheel and sdist into dist/
    assert "python .ci/check_wheel.py dist/*.whl" in build
    pypi = jobs["pypi"]
    assert pypi["environment"]["name"] == "pypi"
    (publish,) = uses(pypi, "pypa/gh-action-pypi-publish")
    assert "with" not in publish  # no password, no token: PyPI trusts the workflow itself


def test_the_service_image_is_pushed_for_amd64_and_arm64_where_users_pull_it() -> None:
    (build,) = uses(workflow("release.yml")["jobs"]["image"], "docker/build-push-action")
    assert build["with"]["platforms"] == "linux/amd64,linux/arm64"
    assert "target" not in build["with"]  # the Dockerfile's last stage
    assert build["with"]["push"] is True
    deployment = yaml.safe_load((ROOT / "deploy" / "deployment.yaml").read_text())
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    image = container["image"].rpartition(":")[0]
    assert {tag.rpartition(":")[0] for tag in build["with"]["tags"].splitlines()} == {image}


def test_the_addon_image_is_pushed_for_each_architecture_the_addon_lists() -> None:
    job = workflow("release.yml")["jobs"]["addon"]
    matrix = job["strategy"]["matrix"]["include"]
    assert [entry["arch"] for entry in matrix] == addon_manifest()["arch"]
    for entry in matrix:
        assert entry["platform"] == PLATFORMS[entry["arch"]], entry
    (build,) = uses(job, "docker/build-push-action")
    assert build["with"]["target"] == "addon"
    assert build["with"]["platforms"] == "${{ matrix.platform }}"
    assert "BUILD_ARCH=${{ matrix.arch }}" in build["with"]["build-args"].splitlines()
    image = addon_manifest()["image"].replace("{arch}", "${{ matrix.arch }}")
    assert build["with"]["tags"] == f"{image}:${{{{ needs.version.outputs.version }}}}"
    assert build["with"]["push"] is True


def test_the_images_are_built_on_emulated_platforms_and_pushed_to_ghcr() -> None:
    jobs = workflow("release.yml")["jobs"]
    for name in ("image", "addon"):
        assert uses(jobs[name], "docker/setup-qemu-action"), name
        assert uses(jobs[name], "docker/setup-buildx-action"), name
        (login,) = uses(jobs[name], "docker/login-action")
        assert login["with"]["registry"] == "ghcr.io"
        assert login["with"]["password"] == "${{ secrets.GITHUB_TOKEN }}"
    assert addon_manifest()["image"].startswith("ghcr.io/")


def test_the_github_release_carries_the_dist_files_and_the_changelog_notes() -> None:
    job = workflow("release.yml")["jobs"]["github-release"]
    (download,) = uses(job, "actions/download-artifact")
    assert download["with"] == {"name": "dist", "path": "dist/"}
    script = " ".join(step.get("run", "") for step in steps(job))
    assert 'gh release create "$TAG" dist/*' in script
    assert "--notes-file release-notes.md" in script
