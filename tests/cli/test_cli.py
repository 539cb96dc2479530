"""The command line and its logging: `check`, `run`, options, exit statuses, log formats.

Covers: `check` on the original example config (exit 0, a summary of every binding's
topics); a config with three mistakes (all three printed as file:line: path: message, exit
2, no traceback), in-process and as `python -m mqtt_kube`; `run` stopping at a bad config or
at unusable Kubernetes credentials; `--version`, options before the command, usage errors;
text and JSON log lines.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest

from mqtt_kube import __version__
from mqtt_kube.cli.main import main, with_command
from mqtt_kube.core.logs import setup_logging
from tests.support.paths import CONFIGS, ORIGINAL_CONFIG, ORIGINAL_JOB, ROOT

THREE_MISTAKES = CONFIGS / "three-mistakes.yaml"


@pytest.fixture(autouse=True)
def _restore_logging(restore_logging: None) -> None:
    """Every test here calls main(), which installs a root handler."""


def expected_problem_lines(source: str) -> list[str]:
    return [
        f"{source}:9: bindings[0].watch[0].locus: invalid JSONPath 'status.[availableReplicas'",
        f"{source}:14: bindings[0].patch[0].retian: unknown key 'retian' in a patch"
        " (did you mean 'retained'?)",
        f"{source}:17: bindings[0].patch[0].values.map['re:(ON']: bad regular expression 're:(ON'",
    ]


def assert_three_problems(stderr: str, source: str) -> None:
    lines = stderr.splitlines()
    assert len(lines) == 4, stderr
    for line, start in zip(lines, expected_problem_lines(source), strict=False):
        assert line.startswith(start), (line, start)
    assert lines[3] == f"{source}: 3 problems; nothing was started"
    assert "Traceback" not in stderr


def test_check_of_a_config_in_the_original_forms_summarises_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    source = str(ORIGINAL_CONFIG)
    assert main(["check", source]) == 0
    out, err = capsys.readouterr()
    prefix = "house/kube"
    assert out.splitlines() == [
        f"{source}: OK",
        f"MQTT broker.home.example:1883 as living-room-bridge (no TLS); availability on "
        f"{prefix}/status",
        "HTTP 0.0.0.0:8080; log level DEBUG; Home Assistant discovery off",
        "3 bindings:",
        "  Deployment media/plex",
        f"    watch  status.availableReplicas → {prefix}/plex/power/state [qos 1, retain]",
        f"    patch  ← {prefix}/plex/power/set → $.spec.replicas",
        "  Job batch/nightly-backup",
        f"    watch  $.status → {prefix}/backup/status [qos 1]",
        f"    watch  $.status.failed → {prefix}/backup/status/failed [qos 1]",
        f"    watch  $.status.active → {prefix}/backup/status/active [qos 1]",
        f"    watch  $.status.succeeded → {prefix}/backup/status/succeeded [qos 1]",
        f"    watch  $.status.startTime → {prefix}/backup/status/started [qos 1]",
        f"    action ← {prefix}/backup/cmd → {ORIGINAL_JOB}",
        "  Deployment media/sonarr",
        f"    watch  $.spec.replicas → {prefix}/sonarr/replicas [qos 1]",
        f"    patch  ← {prefix}/sonarr/power/set → spec.replicas",
        f"    action ← {prefix}/sonarr/sync → {ORIGINAL_CONFIG.parent / 'original-sync-job.yaml'}",
    ]
    assert err == ""


def test_check_of_the_projects_example_config_passes(capsys: pytest.CaptureFixture[str]) -> None:
    source = str(ROOT / "config-basic.yaml")
    assert main(["check", source]) == 0
    out, err = capsys.readouterr()
    assert "  Deployment media/jellyfin" in out.splitlines()
    assert "Home Assistant discovery on, prefix homeassistant" in out
    assert err == ""


def test_check_prints_every_mistake_with_its_line_and_exits_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(THREE_MISTAKES)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert_three_problems(err, str(THREE_MISTAKES))


def test_check_as_a_process_prints_every_mistake_and_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mqtt_kube", "check", str(THREE_MISTAKES)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert_three_problems(done.stderr, str(THREE_MISTAKES))


def test_check_as_a_process_of_a_config_in_the_original_forms_exits_0() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "mqtt_kube", "check", str(ORIGINAL_CONFIG)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith(f"{ORIGINAL_CONFIG}: OK\n")


def test_check_prints_warnings_and_still_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "bindings:\n  - resource: Node\n    name: pi\n"
        "    watch: {locus: status, topic: pi, values: {format: x}}\n"
    )
    assert main(["check", str(path)]) == 0
    err = capsys.readouterr().err
    assert err == (
        f"warning: {path}:4: bindings[0].watch[0].values.format: "
        "'format' has no effect (the original ignored it too); it can be removed\n"
    )


def test_run_stops_at_a_bad_config_before_connecting(capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(THREE_MISTAKES)]) == 2
    assert_three_problems(capsys.readouterr().err, str(THREE_MISTAKES))


def test_run_with_unusable_kubernetes_credentials_logs_why_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        f"kubernetes:\n  kubeconfig: {tmp_path / 'missing-kubeconfig'}\n"
        "http:\n  bind: 127.0.0.1\n  port: 0\nbindings: []\n"
    )
    assert main(["--log-format", "text", str(path)]) == 1
    err = capsys.readouterr().err
    assert "ERROR mqtt_kube.cli.run: stopped: cannot load Kubernetes credentials" in err
    assert "Traceback" not in err


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mqtt-kube {__version__}\n"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["check"],
        ["--log-format", "xml", "check", "x.yaml"],
        ["--log-level", "loud", "x.yaml"],
        ["check", "a.yaml", "b.yaml"],
    ],
)
def test_a_usage_error_exits_2_with_the_usage(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert "usage: mqtt-kube" in capsys.readouterr().err


def test_options_may_come_before_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    source = str(ORIGINAL_CONFIG)
    assert main(["--log-level", "debug", "--log-format", "json", "check", source]) == 0
    assert capsys.readouterr().out.startswith(f"{source}: OK\n")
    assert logging.getLogger().level == logging.DEBUG


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["config.yaml"], ["run", "config.yaml"]),
        (["run", "config.yaml"], ["run", "config.yaml"]),
        (["check", "config.yaml"], ["check", "config.yaml"]),
        (["--log-level", "INFO", "check", "c"], ["check", "--log-level", "INFO", "c"]),
        (["--log-format", "json", "c"], ["run", "--log-format", "json", "c"]),
        (["--log-level=INFO", "check", "c"], ["check", "--log-level=INFO", "c"]),
        (["--version"], ["--version"]),
        ([], []),
    ],
)
def test_the_command_name_is_put_first(argv: list[str], expected: list[str]) -> None:
    assert with_command(argv) == expected


# --- log lines


def test_text_log_lines_read_level_name_message(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(level="info", fmt="text")
    logging.getLogger("mqtt_kube.bridge.binding").info("patched %s", "media/jellyfin")
    logging.getLogger("mqtt_kube.bridge.binding").debug("not shown")
    assert capsys.readouterr().err == "INFO mqtt_kube.bridge.binding: patched media/jellyfin\n"


def test_json_log_lines_carry_time_level_logger_message_and_the_exception(
    capsys: pytest.CaptureFixture[str],
) -> None:
    setup_logging(level="WARN", fmt="json")
    logger = logging.getLogger("mqtt_kube.test")
    logger.info("not shown")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        logger.exception("failed on %s", "a/b")
    (line,) = capsys.readouterr().err.splitlines()
    entry = json.loads(line)
    assert set(entry) == {"time", "level", "logger", "message", "exc_info"}
    assert (entry["level"], entry["logger"], entry["message"]) == (
        "ERROR",
        "mqtt_kube.test",
        "failed on a/b",
    )
    assert entry["exc_info"].endswith("RuntimeError: boom")
    assert entry["time"].endswith("+00:00")


def test_setting_up_logging_again_replaces_the_handler(capsys: pytest.CaptureFixture[str]) -> None:
    setup_logging(level="INFO", fmt="json")
    setup_logging(level="DEBUG", fmt="text")
    logging.getLogger("x").debug("once")
    assert capsys.readouterr().err == "DEBUG x: once\n"


def test_an_unknown_log_level_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown log level 'loud'"):
        setup_logging(level="loud", fmt="text")
