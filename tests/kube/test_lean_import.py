"""Importing the service, and loading a kubeconfig, leave kubernetes_asyncio's models out;
code that asks for them (the fake API server's schema does) still gets them.

Each case runs in a fresh interpreter: this one has long imported the models.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

MODELS = "kubernetes_asyncio.client.models.v1_pod"


def _run(code: str, *args: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    answer: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return answer


def test_importing_the_service_and_the_command_does_not_import_the_models() -> None:
    answer = _run(
        f"""
        import json, sys
        import mqtt_kube.bridge.service, mqtt_kube.cli.run, mqtt_kube.kube.client
        print(json.dumps({{"models": "{MODELS}" in sys.modules,
                           "apis": "kubernetes_asyncio.client.api" in sys.modules}}))
        """
    )
    assert answer == {"models": False, "apis": False}


def test_loading_a_kubeconfig_does_not_import_the_models(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        textwrap.dedent(
            """\
            apiVersion: v1
            kind: Config
            clusters: [{name: c, cluster: {server: "https://127.0.0.1:6443"}}]
            users: [{name: u, user: {token: abc}}]
            contexts: [{name: x, context: {cluster: c, user: u}}]
            current-context: x
            """
        )
    )
    answer = _run(
        f"""
        import asyncio, json, sys
        from mqtt_kube.config.model import KubernetesSettings
        from mqtt_kube.kube.client import KubeClient

        async def main():
            client = await KubeClient.connect(KubernetesSettings(kubeconfig=sys.argv[1]))
            await client.close()

        asyncio.run(main())
        print(json.dumps({{"models": "{MODELS}" in sys.modules}}))
        """,
        str(kubeconfig),
    )
    assert answer == {"models": False}


def test_the_models_and_apis_are_still_there_for_whoever_asks() -> None:
    answer = _run(
        """
        import json
        import mqtt_kube.kube.client
        import kubernetes_asyncio
        from kubernetes_asyncio import client
        from kubernetes_asyncio.client import models
        print(json.dumps({
            "pod": models.V1Pod.__name__,
            "api": client.CoreV1Api.__name__,
            "same": client.V1Pod is models.V1Pod,
            "watch": kubernetes_asyncio.watch.Watch.__name__,
        }))
        """
    )
    assert answer == {"pod": "V1Pod", "api": "CoreV1Api", "same": True, "watch": "Watch"}
