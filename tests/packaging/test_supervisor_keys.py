"""The add-on's manifest and the repository file against the keys the Supervisor documents
(the add-on configuration and repository pages of the Home Assistant developer docs).

The Supervisor skips an add-on whose manifest it cannot read, with a line in its own log
that the user never sees: the store then just does not list it. So every key must be one it
knows, of the type it expects, with a value from the documented choices.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
ADDON = ROOT / "hassio-addon"

REQUIRED = {"name": str, "version": str, "slug": str, "description": str, "arch": list}
OPTIONAL: dict[str, type | tuple[type, ...]] = {
    "machine": list,
    "url": str,
    "startup": str,
    "webui": str,
    "boot": str,
    "ports": dict,
    "ports_description": dict,
    "host_network": bool,
    "host_ipc": bool,
    "host_dbus": bool,
    "host_pid": bool,
    "host_uts": bool,
    "devices": list,
    "homeassistant": str,
    "hassio_role": str,
    "hassio_api": bool,
    "homeassistant_api": bool,
    "docker_api": bool,
    "privileged": list,
    "full_access": bool,
    "apparmor": (bool, str),
    "map": list,
    "environment": dict,
    "audio": bool,
    "video": bool,
    "gpio": bool,
    "usb": bool,
    "uart": bool,
    "udev": bool,
    "devicetree": bool,
    "kernel_modules": bool,
    "stdin": bool,
    "legacy": bool,
    "options": dict,
    "schema": (dict, bool),
    "image": str,
    "codenotary": str,
    "timeout": int,
    "tmpfs": bool,
    "discovery": list,
    "services": list,
    "auth_api": bool,
    "ingress": bool,
    "ingress_port": int,
    "ingress_entry": str,
    "ingress_stream": bool,
    "panel_icon": str,
    "panel_title": str,
    "panel_admin": bool,
    "backup": str,
    "backup_pre": str,
    "backup_post": str,
    "backup_exclude": list,
    "advanced": bool,
    "stage": str,
    "init": bool,
    "watchdog": str,
    "realtime": bool,
    "journald": bool,
    "breaking_versions": list,
    "ulimits": dict,
}
ARCHITECTURES = {"armhf", "armv7", "aarch64", "amd64", "i386"}
CHOICES = {
    "startup": {"initialize", "system", "services", "application", "once"},
    "boot": {"auto", "manual", "manual_only"},
    "stage": {"stable", "experimental", "deprecated"},
    "backup": {"hot", "cold"},
    "hassio_role": {"default", "homeassistant", "backup", "manager", "admin"},
}
MAP_TYPES = {
    "homeassistant_config",
    "addon_config",
    "ssl",
    "addons",
    "backup",
    "share",
    "media",
    "all_addon_configs",
    "data",
}
SERVICE = re.compile(r"(mqtt|mysql):(provide|want|need)")
PORT = re.compile(r"\d{1,5}/(tcp|udp)")
# `[HOST]` and `[PORT:<container port>]` are filled in by the Supervisor.
WATCHDOG = re.compile(
    r"(https?|\[PROTO:\w+\])://\[HOST\]:\[PORT:(\d+)\](/\S*)?|tcp://\[HOST\]:\[PORT:(\d+)\]"
)
REPOSITORY_KEYS = {"name": str, "url": str, "maintainer": str}


def manifest() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ADDON / "config.yaml").read_text())
    return loaded


def type_names(expected: type | tuple[type, ...]) -> str:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(kind.__name__ for kind in kinds)


def wrong_keys(config: dict[str, Any]) -> list[str]:
    """Keys the Supervisor does not know or would not accept, one sentence each."""
    known = {**REQUIRED, **OPTIONAL}
    problems = [f"{key!r} is missing" for key in REQUIRED if key not in config]
    for key, value in config.items():
        if key not in known:
            problems.append(f"{key!r} is not a key of an add-on manifest")
            continue
        expected = known[key]
        # YAML's true is an int to Python; the Supervisor wants a number there.
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is int):
            problems.append(f"{key!r} is {type(value).__name__}, not {type_names(expected)}")
        elif key in CHOICES and value not in CHOICES[key]:
            problems.append(f"{key!r} is {value!r}, not one of {sorted(CHOICES[key])}")
    return problems


def test_the_manifest_has_only_keys_the_supervisor_knows_with_their_types() -> None:
    assert wrong_keys(manifest()) == []


def test_an_unknown_or_mistyped_key_is_named() -> None:
    config = {**manifest(), "watchdogs": "x", "boot": "always", "init": "no"}
    del config["arch"]
    assert wrong_keys(config) == [
        "'arch' is missing",
        "'boot' is 'always', not one of ['auto', 'manual', 'manual_only']",
        "'watchdogs' is not a key of an add-on manifest",
        "'init' is str, not bool",
    ]


def test_the_version_is_a_string_and_the_slug_uri_friendly() -> None:
    text = (ADDON / "config.yaml").read_text()
    assert re.search(r'^version: "[^"]+"$', text, flags=re.MULTILINE)  # quoted: 1.10 ≠ 1.1
    assert re.fullmatch(r"[a-z0-9_]+", manifest()["slug"])


def test_the_values_are_among_the_documented_choices() -> None:
    config = manifest()
    assert set(config["arch"]) <= ARCHITECTURES
    assert len(config["arch"]) == len(set(config["arch"]))
    assert "{arch}" in config["image"]  # one image per architecture
    for service in config["services"]:
        assert SERVICE.fullmatch(service), service
    for entry in config["map"]:
        kind, _, mode = entry.partition(":")
        assert kind in MAP_TYPES, entry
        assert mode in {"", "ro", "rw"}, entry
    for port, host_port in config["ports"].items():
        assert PORT.fullmatch(port), port
        assert host_port is None or isinstance(host_port, int), port
    watchdog = WATCHDOG.fullmatch(config["watchdog"])
    assert watchdog, config["watchdog"]
    watched = watchdog.group(2) or watchdog.group(4)
    assert f"{watched}/tcp" in config["ports"]  # the watchdog asks a port the add-on has


def test_the_repository_file_has_the_documented_keys() -> None:
    repository = yaml.safe_load((ROOT / "repository.yaml").read_text())
    assert set(repository) <= set(REPOSITORY_KEYS)
    assert "name" in repository
    for key, value in repository.items():
        assert isinstance(value, REPOSITORY_KEYS[key]), key
