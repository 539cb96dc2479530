"""The add-on's options (empty fields unset, bad options named with their file), the
environment overrides, and the exit statuses of the real entry point `python3 -m
mqtt_kube.addon.main`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from mqtt_kube.addon.options import AddonEnvironment, AddonError, AddonOptions, read_options
from tests.support.fake_supervisor import (
    TOKEN,
    USER_CONFIG,
    closed_port,
)


def test_options_are_read_with_empty_fields_as_unset(tmp_path: Path) -> None:
    path = tmp_path / "options.json"
    path.write_text(
        json.dumps(
            {
                "log_level": "debug",
                "config_file": "mqtt-kube.yaml",
                "kubeconfig": "",
                "kubernetes_server": "HTTPS://k8s.lan:6443",
                "mqtt_host": " ",
                "mqtt_port": 1883,
                "mqtt_cafile": "",
            }
        )
    )
    assert read_options(path) == AddonOptions(
        log_level="DEBUG",
        config_file="mqtt-kube.yaml",
        kubernetes_server="HTTPS://k8s.lan:6443",
        mqtt_port=1883,
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{\n  'log_level': 1\n}", ":2: not valid JSON"),
        ("[]", "the add-on options must be a JSON object"),
        ('{"mqtt_port": 70000}', "option 'mqtt_port' must be a port number (1-65535), not 70000"),
        ('{"mqtt_port": "1883"}', "option 'mqtt_port' must be a port number"),
        ('{"log_level": "LOUD"}', "option 'log_level' must be one of DEBUG, INFO, WARNING, ERROR"),
        ('{"mqtt_host": 5}', "option 'mqtt_host' must be text, not 5"),
        (
            '{"kubernetes_server": "http://k8s.lan:6443"}',
            "option 'kubernetes_server' must be an https:// address (the token must not cross "
            "the network in clear), not 'http://k8s.lan:6443'",
        ),
        (
            '{"kubeconfig": "kubeconfig", "kubernetes_server": "https://k8s.lan"}',
            "set either option 'kubeconfig' or 'kubernetes_server', not both",
        ),
    ],
)
def test_bad_options_are_named_with_their_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "options.json"
    path.write_text(content)
    with pytest.raises(AddonError) as caught:
        read_options(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)


def test_missing_options_say_the_supervisor_writes_them(tmp_path: Path) -> None:
    with pytest.raises(AddonError, match="not found; the Supervisor writes it"):
        read_options(tmp_path / "options.json")


def test_the_environment_moves_every_input(tmp_path: Path) -> None:
    env = AddonEnvironment.from_environ(
        {
            "MQTT_KUBE_ADDON_OPTIONS": str(tmp_path / "o.json"),
            "MQTT_KUBE_ADDON_CONFIG_DIR": str(tmp_path),
            "MQTT_KUBE_SUPERVISOR_URL": "http://127.0.0.1:1",
            "SUPERVISOR_TOKEN": "t",
            "MQTT_KUBE_ADDON_DATA_DIR": str(tmp_path / "d"),
        }
    )
    assert env == AddonEnvironment(
        tmp_path / "o.json", tmp_path, "http://127.0.0.1:1", "t", tmp_path / "d"
    )


def test_the_environment_defaults_are_the_supervisors_paths() -> None:
    env = AddonEnvironment.from_environ({"SUPERVISOR_TOKEN": ""})
    assert env.supervisor_token is None
    assert env.options_path == Path("/data/options.json")
    assert env.config_dir == Path("/config")
    assert env.data_dir == Path("/data")
    assert env.supervisor_url == "http://supervisor"


def run_addon(tmp_path: Path, config_dir: Path) -> subprocess.CompletedProcess[str]:
    (tmp_path / "options.json").write_text('{"log_level": "INFO", "config_file": "config.yaml"}')
    env = {
        **os.environ,
        "MQTT_KUBE_ADDON_OPTIONS": str(tmp_path / "options.json"),
        "MQTT_KUBE_ADDON_CONFIG_DIR": str(config_dir),
        "MQTT_KUBE_ADDON_DATA_DIR": str(tmp_path / "data"),
        "MQTT_KUBE_SUPERVISOR_URL": f"http://127.0.0.1:{closed_port()}",
        "SUPERVISOR_TOKEN": TOKEN,
    }
    return subprocess.run(
        [sys.executable, "-m", "mqtt_kube.addon"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def test_the_entry_point_exits_2_listing_config_mistakes(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "config.yaml").write_text(USER_CONFIG.replace("status.availableReplicas", "'[['"))
    result = run_addon(tmp_path, config_dir)
    assert result.returncode == 2, result.stderr
    assert f"{config_dir / 'config.yaml'}:" in result.stderr
    assert "bindings[0].watch[0].locus" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_entry_point_exits_1_without_a_kubeconfig(tmp_path: Path, config_dir: Path) -> None:
    (config_dir / "kubeconfig").unlink()
    result = run_addon(tmp_path, config_dir)
    assert result.returncode == 1, result.stderr
    assert "Supervisor unreachable" in result.stderr
    assert "no kubeconfig found" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_entry_point_exits_1_naming_an_unusable_kubeconfig(
    tmp_path: Path, config_dir: Path
) -> None:
    result = run_addon(tmp_path, config_dir)  # the fixture's kubeconfig has no context
    assert result.returncode == 1, result.stderr
    assert f"stopped: cannot load Kubernetes credentials from kubeconfig {config_dir}" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr
