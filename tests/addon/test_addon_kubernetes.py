"""The add-on's starter config (written on the first start only, loadable), the kubeconfig
looked up in the add-on's folder, and a ServiceAccount token turned into a private
kubeconfig, end to end against the fake API server behind TLS that requires that bearer
token.
"""

from __future__ import annotations

import base64
import logging
import ssl
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web

from mqtt_kube.addon.cluster import GENERATED_KUBECONFIG
from mqtt_kube.addon.main import STARTER_CONFIG, prepare, write_starter_config
from mqtt_kube.addon.options import AddonError
from mqtt_kube.config.load import load_config
from mqtt_kube.config.model import Config
from mqtt_kube.core.errors import Forbidden, KubeError
from mqtt_kube.kube.client import KubeClient
from mqtt_kube.testing.certs import Certificates
from mqtt_kube.testing.fakekube import FakeKube
from tests.support.fake_supervisor import (
    SA_TOKEN,
    USER_CONFIG,
    FakeSupervisor,
    environment,
    token_folder,
)


async def test_the_first_start_writes_a_starter_config_that_loads(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    (config_dir / "config.yaml").unlink()
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    path = config_dir / "config.yaml"
    assert path.read_text() == STARTER_CONFIG
    assert f"wrote a starter configuration to {path}" in caplog.text
    assert config.homeassistant is not None
    assert [binding.label for binding in config.bindings] == ["Deployment default/my-app"]
    assert config.mqtt.host == "core-mosquitto"
    assert load_config(path).bindings == config.bindings


def test_the_starter_config_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "config.yaml"
    assert write_starter_config(path) is True
    path.write_text("# mine\n")
    assert write_starter_config(path) is False
    assert path.read_text() == "# mine\n"


async def test_the_kubeconfig_in_the_addon_folder_is_used(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    (config_dir / "kubeconfig").rename(config_dir / "cluster.yaml")
    env = environment(tmp_path, config_dir, url=supervisor.url, kubeconfig="cluster.yaml")
    config = await prepare(env)
    assert config.kubernetes.kubeconfig == str(config_dir / "cluster.yaml")


async def test_a_kubeconfig_named_in_the_config_file_wins(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    (config_dir / "kubeconfig").unlink()
    (config_dir / "mine").write_text("apiVersion: v1\nkind: Config\n")
    text = USER_CONFIG.replace("bindings:", "kubernetes:\n  kubeconfig: !relpath mine\nbindings:")
    (config_dir / "config.yaml").write_text(text)
    config = await prepare(environment(tmp_path, config_dir, url=supervisor.url))
    assert config.kubernetes.kubeconfig == str(config_dir / "mine")


@pytest.mark.parametrize(
    ("option", "looked_for"),
    [(None, "kubeconfig, "), ("cluster.yaml", "cluster.yaml)")],
)
async def test_no_kubeconfig_is_an_error_saying_where_it_looked(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    option: str | None,
    looked_for: str,
) -> None:
    (config_dir / "kubeconfig").unlink()
    env = environment(tmp_path, config_dir, url=supervisor.url, kubeconfig=option)
    with pytest.raises(AddonError, match="no kubeconfig found") as caught:
        await prepare(env)
    assert f"{config_dir}/{looked_for}" in str(caught.value)


async def test_a_token_and_the_server_option_become_a_kubeconfig_only_we_can_read(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    pki: Certificates,
    caplog: pytest.LogCaptureFixture,
) -> None:
    token_folder(config_dir, ca=pki.cafile)
    server = "https://k8s.lan:6443"
    env = environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=server)
    with caplog.at_level(logging.DEBUG):
        config = await prepare(env)
    path = tmp_path / "data" / GENERATED_KUBECONFIG
    assert config.kubernetes.kubeconfig == str(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    kubeconfig = yaml.safe_load(path.read_text())
    ((cluster,),) = [[c["cluster"] for c in kubeconfig["clusters"]]]
    assert cluster["server"] == server
    assert base64.b64decode(cluster["certificate-authority-data"]) == pki.cafile.read_bytes()
    assert "insecure-skip-tls-verify" not in cluster
    assert kubeconfig["users"][0]["user"] == {"token": SA_TOKEN}
    assert kubeconfig["current-context"] == kubeconfig["contexts"][0]["name"]
    assert f"with the token in {config_dir / 'token'}, verified against" in caplog.text
    assert SA_TOKEN not in caplog.text


async def test_without_ca_crt_the_system_cas_verify_the_server(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor, caplog: pytest.LogCaptureFixture
) -> None:
    token_folder(config_dir, ca=None)
    env = environment(
        tmp_path, config_dir, url=supervisor.url, kubernetes_server="https://k8s.example.com"
    )
    with caplog.at_level(logging.INFO, logger="mqtt_kube.addon"):
        config = await prepare(env)
    path = tmp_path / "data" / GENERATED_KUBECONFIG
    assert config.kubernetes.kubeconfig == str(path)
    cluster = yaml.safe_load(path.read_text())["clusters"][0]
    assert cluster["cluster"] == {"server": "https://k8s.example.com"}
    assert "verified against the system CAs" in caplog.text


async def test_a_kubeconfig_left_readable_by_others_is_narrowed_before_the_token_goes_in(
    tmp_path: Path, config_dir: Path, supervisor: FakeSupervisor
) -> None:
    token_folder(config_dir, ca=None)
    path = tmp_path / "data" / GENERATED_KUBECONFIG
    path.parent.mkdir()
    path.write_text("old\n")
    path.chmod(0o644)
    env = environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server="https://k")
    await prepare(env)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert SA_TOKEN in path.read_text()


@pytest.mark.parametrize(
    ("token", "ca", "message"),
    [
        (None, None, "option 'kubernetes_server' is set but {dir}/token does not exist"),
        ("two words", None, "{dir}/token: not a token (expected one line without spaces)"),
        ("\n", None, "{dir}/token: not a token"),
        (SA_TOKEN, "not a certificate", "{dir}/ca.crt: not a PEM certificate"),
    ],
)
async def test_an_unusable_token_or_ca_is_an_error_naming_the_file(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    token: str | None,
    ca: str | None,
    message: str,
) -> None:
    (config_dir / "kubeconfig").unlink()
    if token is not None:
        (config_dir / "token").write_text(token)
    if ca is not None:
        (config_dir / "ca.crt").write_text(ca)
    env = environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server="https://k")
    with pytest.raises(AddonError) as caught:
        await prepare(env)
    assert message.format(dir=config_dir) in str(caught.value)
    assert not (tmp_path / "data" / GENERATED_KUBECONFIG).exists()


@pytest.fixture
async def tls_kube(pki: Certificates) -> AsyncIterator[tuple[FakeKube, str]]:
    """The fake API server behind TLS (certificate for 127.0.0.1), requiring SA_TOKEN."""
    fake = FakeKube(token=SA_TOKEN, controller=False)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_certfile, pki.server_keyfile)
    runner = web.AppRunner(fake.make_app(), handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=context).start()
    try:
        yield fake, f"https://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


async def get_jellyfin(config: Config, fake: FakeKube) -> dict[str, Any]:
    """The Deployment of USER_CONFIG, read with the Kubernetes settings `prepare` made."""
    fake.put(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"namespace": "media", "name": "jellyfin"},
            "spec": {"replicas": 1},
        }
    )
    client = await KubeClient.connect(config.kubernetes)
    try:
        return await client.request("GET", "/apis/apps/v1/namespaces/media/deployments/jellyfin")
    finally:
        await client.close()


async def test_the_token_reaches_the_api_server_over_tls_verified_against_ca_crt(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    pki: Certificates,
    tls_kube: tuple[FakeKube, str],
) -> None:
    fake, url = tls_kube
    token_folder(config_dir, ca=pki.cafile)
    config = await prepare(
        environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=url)
    )
    deployment = await get_jellyfin(config, fake)
    assert deployment["metadata"]["name"] == "jellyfin"
    assert [request.path for request in fake.requests] == [
        "/apis/apps/v1/namespaces/media/deployments/jellyfin"
    ]


async def test_without_ca_crt_a_private_api_server_is_not_trusted_and_gets_no_token(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    tls_kube: tuple[FakeKube, str],
) -> None:
    fake, url = tls_kube
    token_folder(config_dir, ca=None)
    config = await prepare(
        environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=url)
    )
    with pytest.raises(KubeError, match="certificate verify failed"):
        await get_jellyfin(config, fake)
    assert fake.requests == []


async def test_a_token_the_api_server_does_not_know_is_refused(
    tmp_path: Path,
    config_dir: Path,
    supervisor: FakeSupervisor,
    pki: Certificates,
    tls_kube: tuple[FakeKube, str],
) -> None:
    fake, url = tls_kube
    token_folder(config_dir, ca=pki.cafile)
    (config_dir / "token").write_text("someone-elses-token")
    config = await prepare(
        environment(tmp_path, config_dir, url=supervisor.url, kubernetes_server=url)
    )
    with pytest.raises(Forbidden):
        await get_jellyfin(config, fake)
    assert len(fake.requests) == 1
