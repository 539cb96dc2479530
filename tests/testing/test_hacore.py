"""The real Home Assistant tier's own machinery: tier selection, the cache, the Debian mirror.

Covered: tier lists (commas, spaces, `all`) and the message for an unknown tier naming
where it came from; a selected tier that is not provisioned fails the run, with the
command that installs it, and is never skipped; provisioning a tier already installed
returns it as it is, and an install made with another recipe (or none) counts as not
installed; a Home Assistant that exits during start-up fails with what it printed; the
Debian mirror is read from the host's apt sources in both forms.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mqtt_kube.testing.hacore import chroot
from mqtt_kube.testing.hacore.instance import HomeAssistant
from mqtt_kube.testing.hacore.process import ProvisionError
from mqtt_kube.testing.hacore.provision import (
    Installation,
    installation,
    installed,
    provision,
    recipe,
)
from mqtt_kube.testing.hacore.tiers import CACHE_ENV, CURRENT, OLDEST, TIERS, Tier, select_tiers
from mqtt_kube.testing.mosquitto import Mosquitto
from tests.support.paths import ROOT


def test_tiers_are_named_by_version_with_commas_or_spaces_or_all() -> None:
    assert select_tiers("2024.3.3", source="test") == [OLDEST]
    assert select_tiers(" 2026.11.0, 2024.3.3 2026.11.0", source="test") == [CURRENT, OLDEST]
    assert select_tiers("all", source="test") == list(TIERS.values())


def test_an_unknown_tier_is_refused_naming_where_it_came_from() -> None:
    with pytest.raises(ValueError, match=r"--ha-tiers: unknown Home Assistant tier 2025\.1\.0"):
        select_tiers("2024.3.3,2025.1.0", source="--ha-tiers")
    with pytest.raises(ValueError, match="MQTT_KUBE_HA_TIERS: no Home Assistant tier named"):
        select_tiers(" , ", source="MQTT_KUBE_HA_TIERS")


def test_a_selected_tier_that_is_not_provisioned_fails_the_run(tmp_path: Path) -> None:
    env = {**os.environ, CACHE_ENV: str(tmp_path / "empty-cache")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-p",
            "no:cacheprovider",
            "--ha-tiers=2024.3.3",
            "-q",
            "tests/homeassistant/test_real_home_assistant.py::test_the_jellyfin_switch_scales_the_deployment_and_follows_it",
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Home Assistant 2024.3.3 is not provisioned in" in output
    assert "make homeassistant HA_TIERS=2024.3.3" in output
    assert "skipped" not in output


def test_provisioning_an_installed_tier_returns_it_unchanged(ha_tier: Tier) -> None:
    place = installed(ha_tier)
    if place is None:
        pytest.fail(
            f"Home Assistant {ha_tier.version} is not provisioned: run `make homeassistant`"
        )
    before = place.stamp.read_text(), place.stamp.stat().st_mtime_ns
    assert provision(ha_tier, log=False) == place
    assert (place.stamp.read_text(), place.stamp.stat().st_mtime_ns) == before


def test_an_install_made_with_another_recipe_is_not_taken_as_installed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    place = installation(OLDEST)
    place.stamp.parent.mkdir(parents=True)
    assert installed(OLDEST) is None  # nothing there
    place.stamp.write_text(json.dumps({"recipe": {**recipe(OLDEST), "pip": "1.0"}}))
    assert installed(OLDEST) is None  # made with another pip: installed anew
    place.stamp.write_text("{not json")
    assert installed(OLDEST) is None
    place.stamp.write_text(json.dumps({"recipe": recipe(OLDEST), "requirements": []}))
    assert installed(OLDEST) == place


def test_a_home_assistant_that_exits_during_start_up_fails_with_its_output(
    tmp_path: Path,
) -> None:
    python = tmp_path / "venv" / "bin" / "python"
    python.parent.mkdir(parents=True)
    python.write_text("#!/bin/sh\necho 'cannot import homeassistant' >&2\nexit 3\n")
    python.chmod(0o755)
    place = Installation(OLDEST, None, str(tmp_path / "venv"))
    with (
        Mosquitto() as broker,
        pytest.raises(ProvisionError) as failure,
        HomeAssistant(place, broker),
    ):
        pass
    message = str(failure.value)
    assert "exited during start-up" in message
    assert "cannot import homeassistant" in message


def test_the_debian_mirror_comes_from_the_hosts_apt_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one_line = tmp_path / "sources.list"
    folder = tmp_path / "sources.list.d"
    folder.mkdir()
    monkeypatch.delenv(chroot.MIRROR_ENV, raising=False)
    monkeypatch.setattr(chroot, "_SOURCES", (one_line, folder))

    one_line.write_text(
        "# a comment\ndeb [arch=amd64] http://mirror.example/debian bookworm main\n"
    )
    assert chroot.debian_mirror() == "http://mirror.example/debian"

    one_line.unlink()
    (folder / "debian.sources").write_text(
        "Types: deb\nURIs: http://other.example/debian/\nSuites: bookworm\nComponents: main\n"
    )
    (folder / "extra.sources").write_text("Types: deb\nURIs: https://vendor.example/apt\n")
    assert chroot.debian_mirror() == "http://other.example/debian"

    monkeypatch.setenv(chroot.MIRROR_ENV, "http://chosen.example/debian")
    assert chroot.debian_mirror() == "http://chosen.example/debian"


def test_no_debian_mirror_is_a_clear_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(chroot.MIRROR_ENV, raising=False)
    monkeypatch.setattr(chroot, "_SOURCES", (tmp_path / "sources.list",))
    with pytest.raises(RuntimeError, match="set MQTT_KUBE_DEBIAN_MIRROR"):
        chroot.debian_mirror()
