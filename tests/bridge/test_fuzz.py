"""Fuzzing with hypothesis: hostile payloads on every kind of command topic, mutated configs.

Payloads go through the real binding code (value map, patch builder, template, API client)
to the fake API server; for each one the requests the server saw must be exactly the ones
the value map calls for — one PATCH of the mapped field, one POST of a Job of the
template's kind in the binding's namespace, or the two DELETEs of `delete` — and nothing
may raise. Four association types: a patch with a map, a patch without one (the payload
is the value), an action with a jsonpath map, an action with regex map entries.

Configs are the original example with random text mutations (lines deleted, duplicated,
re-indented, values replaced by odd scalars and YAML syntax, tokens spliced in); `mqtt-kube
check` must exit 0, or 2 with one `file:line: path: message` line per problem, and never
show a traceback — in-process for speed, and a few through `python -m mqtt_kube check`.

The counts are small in `make test`; MQTT_KUBE_SOAK=1 runs 10,000 payloads per
association type and 2,000 configs. Generation is derandomized, and Hypothesis also draws
constants from the project modules loaded when it generates, so this module loads all of
mqtt_kube first: a rerun of the same commit with the same Hypothesis, through `pytest` or
`make test`, tries the same examples and prints the same figures.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mqtt_kube
from mqtt_kube.bridge.binding import Binding
from mqtt_kube.bridge.metrics import CommandCounters
from mqtt_kube.bridge.stateboard import StateBoard
from mqtt_kube.cli.main import main
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import ActionSpec, PatchSpec
from mqtt_kube.core.errors import ValueMapError
from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.core.payload import decode_scalar
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.kube.patch import patch_request
from mqtt_kube.testing.fakekube import FakeKube
from tests.support.paths import ORIGINAL_CONFIG, ORIGINAL_JOB, ORIGINAL_SYNC_JOB

SOAK: Final = os.environ.get("MQTT_KUBE_SOAK") == "1"


def load_every_module() -> None:
    """Import all of mqtt_kube, so its constants are in Hypothesis' pool whatever ran before."""
    for module in pkgutil.walk_packages(mqtt_kube.__path__, "mqtt_kube."):
        if not module.name.endswith(".__main__"):
            importlib.import_module(module.name)


load_every_module()
PAYLOADS: Final = 10_000 if SOAK else 200  # per association type
CONFIGS: Final = 2_000 if SOAK else 150
NAMESPACE: Final = "fuzz"

CONFIG: Final = f"""\
mqtt:
  client-id: fuzz
bindings:
  - namespace: {NAMESPACE}
    resource: Deployment
    name: app
    patch:
      - topic: app/power
        locus: spec.replicas
        values:
          map:
            "ON": 1
            "OFF": 0
      - topic: app/replicas
        locus: spec.replicas
  - namespace: {NAMESPACE}
    resource: Job
    name: job
    action:
      - topic: job/json
        launch: !relpath job.yaml
        values:
          jsonpath: "$.action"
          map:
            RUN: launch
            STOP: delete
      - topic: job/regex
        launch: !relpath job.yaml
        values:
          map:
            "re:^run-(?P<tag>[a-z0-9]+)$": launch
            "re:^stop$": delete
"""
TEMPLATE: Final = """\
apiVersion: batch/v1
kind: Job
metadata:
  generateName: fuzz-
  annotations:
    payload: "${match.input}"
    value: '${match.value}'
spec:
  template:
    spec:
      containers:
        - name: job
          image: alpine
          args: ["${match.input}"]
      restartPolicy: Never
"""

# Text that means something to YAML, Mako, JSON, JSONPath, regexes or shells.
SPECIAL: Final = [
    "ON", "OFF", "on", "ON ", " ON", "On", "1", "0", "-1", "3", "1e3", "1.5", "0x10", "true",
    "false", "null", "~", "", " ", "NaN", "Infinity", "-Infinity", "9" * 400, "RUN", "STOP",
    "run-x", "run-", "stop", "stop\n", "run-abc\n", "${", "${x}", "<% x %>", "%>", "<%",
    "## ", "\\", "\n---\n", "...", "!!python/object/apply:os.system ['id']", "&a", "*a",
    "<<: *a", "{a: 1}", "[1, 2]", "key: value", "kind: Secret", "namespace: kube-system",
    '"', "'", "`id`", "$(id)", "\x00", "\ufeff", "\u2028", "\r\n", "é", "😀", "$..*",
    '{"action": "RUN"}', '{"action": "STOP"}', '{"action": ["RUN"]}', '{"action": null}',
    '{"action": "RUN", "kind": "Secret"}', '{"action": "RUN\\n---\\nkind: Secret"}',
]  # fmt: skip
scalars = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=8,
)
action_documents = st.dictionaries(
    st.sampled_from(["action", "Action", "kind", "metadata", ""]) | st.text(max_size=6),
    st.sampled_from(["RUN", "STOP", "run", "RUN ", None, 1, ["RUN"]]) | scalars,
    max_size=3,
)
# Payloads that map (or nearly do), so that every branch sends requests often.
MAPPED: Final = ["ON", "OFF", "0", "2", "stop", "run-a1", '{"action": "RUN"}', '{"action": "STOP"}']
payloads = st.one_of(
    st.sampled_from(MAPPED),
    st.text(),
    st.sampled_from(SPECIAL),
    st.builds(
        lambda a, b, c: a + b + c,
        st.sampled_from(SPECIAL),
        st.text(max_size=8),
        st.sampled_from(SPECIAL),
    ),
    scalars.map(json.dumps),
    action_documents.map(json.dumps),
    st.from_regex(r"run-[a-z0-9]{1,12}", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,12}", fullmatch=True),
    st.integers(min_value=1_000, max_value=300_000).map(lambda n: "RUN" * (n // 3)),
    st.integers(min_value=4_000, max_value=20_000).map(lambda n: "9" * n),  # past int()'s limit
)


@dataclass
class Rig:
    fake: FakeKube
    patch_binding: Binding
    action_binding: Binding
    counters: CommandCounters


@pytest.fixture
async def rig(tmp_path: Path, fake_kube: FakeKube) -> AsyncIterator[Rig]:
    (tmp_path / "job.yaml").write_text(TEMPLATE)
    kubeconfig = fake_kube.write_kubeconfig(tmp_path / "kubeconfig")
    config_file = tmp_path / "config.yaml"
    config_file.write_text(CONFIG + f"kubernetes:\n  kubeconfig: {kubeconfig}\n")
    config = load_config(config_file)
    fake_kube.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "app", "namespace": NAMESPACE},
            "spec": {"replicas": 0},
        }
    )
    fake_kube.controller = False
    client = await KubeClient.connect(config.kubernetes)
    board = StateBoard(NoPublisher())
    counters = CommandCounters()
    patch_spec, action_spec = config.bindings
    yield Rig(
        fake_kube,
        Binding(patch_spec, client=client, board=board, counters=counters),
        Binding(action_spec, client=client, board=board, counters=counters),
        counters,
    )
    await client.close()


class NoPublisher:
    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]:
        return asyncio.ensure_future(self.publish(topic, payload, qos=qos, retain=retain))

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> bool:
        return False


def mapped(values: Any, text: str) -> Any:
    """What the value map makes of `text`: the Match, or None (no entry, or a bad payload)."""
    try:
        return values.match(text)
    except ValueMapError:
        return None


def expected_patch(binding: Binding, patch: PatchSpec, text: str) -> list[tuple[str, str, Any]]:
    match = mapped(patch.values, text)
    if match is None:
        return []
    value = match.output
    if isinstance(value, str) and not patch.values.has_map:
        value = decode_scalar(value)
    request = patch_request(
        kind=BUILTIN_KINDS["Deployment"],
        namespace=NAMESPACE,
        name=binding.spec.name,
        locus=patch.locus,
        value=value,
    )
    return [("PATCH", request.path, json.loads(json.dumps(request.body)))]


JOBS: Final = f"/apis/batch/v1/namespaces/{NAMESPACE}/jobs"


def check_action(rig: Rig, action: ActionSpec, text: str) -> None:
    requests = [(r.method, r.path) for r in rig.fake.requests]
    match = mapped(action.values, text)
    verb = None if match is None else match.output
    if verb == "launch":
        assert requests == [("POST", JOBS)], text
        body = rig.fake.requests[0].body
        assert body["kind"] == "Job"
        assert body["apiVersion"] == "batch/v1"
        assert body["metadata"].get("namespace", NAMESPACE) == NAMESPACE
        assert set(body) == {"apiVersion", "kind", "metadata", "spec"}
        assert set(body["metadata"]) <= {"generateName", "annotations", "labels", "namespace"}
        assert body["metadata"]["annotations"]["payload"] == text
        assert set(body["metadata"]["annotations"]) == {"payload", "value"}
        assert body["spec"]["template"]["spec"]["containers"][0]["args"] == [text]
        assert body["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "mqtt-kube"
    elif verb == "delete":
        assert requests == [("DELETE", f"{JOBS}/job"), ("DELETE", JOBS)], text
    else:
        assert requests == [], text


FUZZ_SETTINGS: Final = settings(
    max_examples=PAYLOADS,
    derandomize=True,  # the same examples every run: the recorded figures can be rerun
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
    ],
)


def handler_for(rig: Rig, association: str) -> Callable[[str], Awaitable[None]]:
    patch_power, patch_plain = rig.patch_binding.spec.patch
    action_json, action_regex = rig.action_binding.spec.action
    return {
        "patch with a map": lambda t: rig.patch_binding.apply_patch(patch_power, t),
        "patch without a map": lambda t: rig.patch_binding.apply_patch(patch_plain, t),
        "action with a jsonpath map": lambda t: rig.action_binding.run_action(action_json, t),
        "action with regex entries": lambda t: rig.action_binding.run_action(action_regex, t),
    }[association]


def checker_for(rig: Rig, association: str) -> Callable[[str], None]:
    patch_power, patch_plain = rig.patch_binding.spec.patch
    action_json, action_regex = rig.action_binding.spec.action

    def check_patch(patch: PatchSpec) -> Callable[[str], None]:
        def check(text: str) -> None:
            seen = [(r.method, r.path, r.body) for r in rig.fake.requests]
            assert seen == expected_patch(rig.patch_binding, patch, text), text

        return check

    return {
        "patch with a map": check_patch(patch_power),
        "patch without a map": check_patch(patch_plain),
        "action with a jsonpath map": lambda t: check_action(rig, action_json, t),
        "action with regex entries": lambda t: check_action(rig, action_regex, t),
    }[association]


ASSOCIATIONS: Final = [
    "patch with a map",
    "patch without a map",
    "action with a jsonpath map",
    "action with regex entries",
]


@pytest.fixture
def tally(rig: Rig, request: pytest.FixtureRequest) -> Iterator[list[int]]:
    """Lengths of the payloads tried; the figures are printed once every example has run."""
    tried: list[int] = []
    yield tried
    association = request.node.callspec.params["association"]
    counters = rig.counters
    print(
        f"FIGURES fuzz {association}: {len(tried)} payloads (longest {max(tried)} chars); "
        f"patches {counters.patches}, launches {counters.launches}, deletes "
        f"{counters.deletes}, ignored {counters.ignored}, refused {counters.failed}"
    )
    assert len(tried) >= PAYLOADS


@pytest.mark.timeout(1800 if SOAK else 60)
@pytest.mark.parametrize("association", ASSOCIATIONS)
@FUZZ_SETTINGS
@given(text=payloads)
async def test_any_payload_makes_exactly_the_mapped_requests_and_nothing_raises(
    rig: Rig, tally: list[int], association: str, text: str
) -> None:
    rig.fake.clear_requests()
    await handler_for(rig, association)(text)
    checker_for(rig, association)(text)
    tally.append(len(text))


# -- mutated configs ---------------------------------------------------------------------

ORIGINAL_LINES: Final = ORIGINAL_CONFIG.read_text().splitlines()
ODD: Final = [
    ":", "-", "- x", "[", "]", "{", "}", "{}", "[]", "[1, 2]", "{a: 1}", "&a", "*a", "<<: *a",
    "!relpath", "!relpath nope.yaml", "!env", "!env NOT_SET_ANYWHERE", "!file /nonexistent",
    "!!python/object/apply:os.system ['id']", "!!binary aGk=", "!unknown x", "~", "''", '"',
    "'", "#", "|", ">", "? x", "\t", "re:(", "re:[a-", "lambda v:", "lambda: 1", "lambda v: v +",
    "$..", "$[", "status.[x", "${", "%", "@", "`", "\x00", "\ufeff", "yes", "on", "ON", "1e9",
    "-1", "0", "99999999999999999999", "1.5", "null", "true", "---", "...", "é", "a" * 300,
    "mqtt", "bindings", "watch", "patch", "action", "values", "map", "locus", "topic",
    "jellyfin/power/#", "+/x", "a\u0000b",
]  # fmt: skip
indexes = st.integers(min_value=0, max_value=len(ORIGINAL_LINES))
odd_text = st.sampled_from(ODD) | st.text(max_size=12) | st.integers().map(str)
mutations = st.lists(
    st.one_of(
        st.tuples(st.just("delete"), indexes),
        st.tuples(st.just("duplicate"), indexes),
        st.tuples(st.just("indent"), indexes, st.sampled_from([-4, -2, -1, 1, 2, 4])),
        st.tuples(st.just("value"), indexes, odd_text),
        st.tuples(st.just("key"), indexes, odd_text),
        st.tuples(st.just("insert"), indexes, odd_text),
        st.tuples(st.just("splice"), indexes, st.integers(0, 60), odd_text),
        st.tuples(st.just("swap"), indexes, indexes),
    ),
    min_size=1,
    max_size=4,
)


def mutate(lines: list[str], steps: list[tuple[Any, ...]]) -> str:
    lines = list(lines)
    for step in steps:
        if not lines:
            break
        action, at = step[0], step[1] % len(lines)
        line = lines[at]
        if action == "delete":
            del lines[at]
        elif action == "duplicate":
            lines.insert(at, line)
        elif action == "indent":
            lines[at] = " " * max(0, step[2]) + line[max(0, -step[2]) :]
        elif action == "value" and ":" in line:
            lines[at] = f"{line.split(':', 1)[0]}: {step[2]}"
        elif action == "key" and ":" in line:
            head, tail = line.split(":", 1)
            indent = head[: len(head) - len(head.lstrip())]
            lines[at] = f"{indent}{step[2]}:{tail}"
        elif action == "insert":
            lines.insert(at, step[2])
        elif action == "splice":
            cut = min(step[2], len(line))
            lines[at] = line[:cut] + step[3] + line[cut:]
        elif action == "swap":
            other = step[2] % len(lines)
            lines[at], lines[other] = lines[other], line
    return "\n".join(lines) + "\n"


def copy_templates(folder: Path) -> None:
    """The Job templates the original-forms config launches, beside the mutated copy."""
    for template in (ORIGINAL_JOB, ORIGINAL_SYNC_JOB):
        shutil.copy(template, folder / template.name)


def assert_check_answer(status: int, out: str, err: str, source: str) -> None:
    """Exit 0 with a summary, or 2 with one line per problem naming the file; no traceback."""
    assert "Traceback" not in out + err
    assert status in (0, 2), (status, err)
    if status == 0:
        assert out.startswith(f"{source}: OK\n")
    else:
        lines = err.splitlines()
        assert lines, "exit 2 without a message"
        assert lines[-1].startswith(f"{source}: ")
        assert lines[-1].endswith("; nothing was started")
        problems = [line for line in lines[:-1] if not line.startswith("warning: ")]
        assert problems, err
        for line in problems:
            assert line.startswith(f"{source}"), line


@pytest.mark.timeout(1800 if SOAK else 60)
@pytest.mark.usefixtures("restore_logging")
def test_a_mutated_config_is_accepted_or_refused_with_messages_never_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    copy_templates(tmp_path)
    source = tmp_path / "config.yaml"
    outcomes = {0: 0, 2: 0}

    @settings(
        max_examples=CONFIGS,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture],
    )
    @given(steps=mutations)
    def one(steps: list[tuple[Any, ...]]) -> None:
        source.write_text(mutate(ORIGINAL_LINES, steps))
        capsys.readouterr()
        status = main(["check", str(source)])
        out, err = capsys.readouterr()
        assert_check_answer(status, out, err, str(source))
        outcomes[status] += 1

    one()
    print(
        f"FIGURES config fuzz: {sum(outcomes.values())} mutated configs; exit 0: "
        f"{outcomes[0]}, exit 2: {outcomes[2]}; tracebacks 0"
    )


@pytest.mark.parametrize(
    "steps",
    [
        [("value", 13, "!!python/object/apply:os.system ['id']")],
        [("indent", 20, 3), ("delete", 5, 0)],
        [("splice", 27, 10, "re:(")],
        [("value", 1, "!env NOT_SET_ANYWHERE"), ("key", 22, "retian")],
    ],
)
def test_mutated_configs_checked_by_the_command_exit_0_or_2_without_a_traceback(
    tmp_path: Path, steps: list[tuple[Any, ...]]
) -> None:
    copy_templates(tmp_path)
    source = tmp_path / "config.yaml"
    source.write_text(mutate(ORIGINAL_LINES, steps))
    result = subprocess.run(
        [sys.executable, "-m", "mqtt_kube", "check", str(source)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert_check_answer(result.returncode, result.stdout, result.stderr, str(source))
