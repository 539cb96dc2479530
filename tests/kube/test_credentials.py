"""Kubeconfig credentials that expire, against the fake API's expiring bearer tokens.

Covered: an exec plugin's token renewed after a 401 and the request sent again (once, and
one plugin run for a burst of 401s); an exec token renewed before its expirationTimestamp,
so the server never says 401; a `tokenFile` read again after a 401; a static token that is
refused stays refused (no loop).
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.core.errors import Forbidden
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.testing.fakekube import FakeKube
from tests.support.waiting import until

PATH = "/api/v1/namespaces/media/configmaps"

PLUGIN = """\
import json, sys
state = json.load(open(sys.argv[1]))
token, expiry = state["tokens"].pop(0)
json.dump(state, open(sys.argv[1], "w"))
status = {"token": token}
if expiry:
    status["expirationTimestamp"] = expiry
json.dump({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
           "status": status}, sys.stdout)
"""


def rfc3339(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%SZ")


class Plugin:
    """An exec credential plugin that hands out the given tokens, one per run."""

    def __init__(self, folder: Path, tokens: list[tuple[str, str | None]]) -> None:
        self.state = folder / "plugin-state.json"
        self.state.write_text(json.dumps({"tokens": tokens}))
        self.script = folder / "plugin.py"
        self.script.write_text(PLUGIN)

    @property
    def left(self) -> int:
        tokens: list[object] = json.loads(self.state.read_text())["tokens"]
        return len(tokens)

    def user(self) -> dict[str, object]:
        return {
            "exec": {
                "apiVersion": "client.authentication.k8s.io/v1beta1",
                "command": sys.executable,
                "args": [str(self.script), str(self.state)],
            }
        }


async def connect(fake: FakeKube, folder: Path, user: dict[str, object]) -> KubeClient:
    kubeconfig = fake.write_kubeconfig(folder / "kubeconfig", user=user)
    return await KubeClient.connect(KubernetesSettings(kubeconfig=str(kubeconfig)))


async def test_an_exec_token_refused_with_401_is_renewed_and_the_request_sent_again(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    first, second, spare = (fake_kube.issue_token() for _ in range(3))
    plugin = Plugin(tmp_path, [(first, rfc3339(3600)), (second, rfc3339(3600)), (spare, None)])
    client = await connect(fake_kube, tmp_path, plugin.user())
    try:
        await client.request("GET", PATH)
        fake_kube.expire_token(first)
        results = await asyncio.gather(*(client.request("GET", PATH) for _ in range(5)))
    finally:
        await client.close()
    assert [result["kind"] for result in results] == ["ConfigMapList"] * 5
    assert plugin.left == 1  # one run at load, one for the whole burst of 401s
    assert client.api_errors == 0


async def test_an_exec_token_is_renewed_before_it_expires(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    brief = fake_kube.issue_token(lifetime=1.0)
    lasting = fake_kube.issue_token()
    plugin = Plugin(tmp_path, [(brief, rfc3339(1)), (lasting, rfc3339(3600))])
    client = await connect(fake_kube, tmp_path, plugin.user())
    try:
        await client.request("GET", PATH)
        await until(lambda: not fake_kube.tokens.valid(brief))
        await client.request("GET", PATH)
    finally:
        await client.close()
    assert fake_kube.tokens.refused == 0  # never sent an expired token
    assert plugin.left == 0


async def test_a_token_file_is_read_again_after_a_401(fake_kube: FakeKube, tmp_path: Path) -> None:
    old, new = fake_kube.issue_token(), fake_kube.issue_token()
    token_file = tmp_path / "token"
    token_file.write_text(old + "\n")
    client = await connect(fake_kube, tmp_path, {"tokenFile": str(token_file)})
    try:
        await client.request("GET", PATH)
        token_file.write_text(new + "\n")  # rotated, as a projected token is
        fake_kube.expire_token(old)
        listed = await client.request("GET", PATH)
    finally:
        await client.close()
    assert listed["kind"] == "ConfigMapList"
    assert fake_kube.requests[-1].token == new


async def test_a_static_token_that_is_refused_stays_refused(
    fake_kube: FakeKube, tmp_path: Path
) -> None:
    token = fake_kube.issue_token()
    client = await connect(fake_kube, tmp_path, {"token": token})
    fake_kube.expire_token(token)
    try:
        with pytest.raises(Forbidden, match="Unauthorized"):
            await client.request("GET", PATH)
    finally:
        await client.close()
    assert fake_kube.tokens.refused == 1
