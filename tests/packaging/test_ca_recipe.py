"""The `ca.crt` recipe of docs/operations.md and the add-on's DOCS.md, run with real kubectl.

Covered: the command as the documents write it gives the cluster's CA certificate both when
the kubeconfig embeds it (`certificate-authority-data`) and when it names a file
(`certificate-authority`, as minikube and kubeadm admin configs do). kubectl is a
prerequisite of the suite (`make pytest` installs Debian's `kubernetes-client`).
"""

from __future__ import annotations

import base64
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Final

import pytest
import yaml

from tests.support.paths import ROOT

DOCUMENTS: Final = (ROOT / "docs" / "operations.md", ROOT / "hassio-addon" / "DOCS.md")
CA: Final = b"-----BEGIN CERTIFICATE-----\nMIIBkTCB+wIJAKHBfpeg\n-----END CERTIFICATE-----\n"


def recipe(document: Path) -> str:
    """The shell command of `document` that writes ca.crt (continuation lines joined)."""
    text = document.read_text().replace("\\\n", " ")
    found = [line.strip() for line in text.splitlines() if line.rstrip().endswith("> ca.crt")]
    assert len(found) == 1, f"{document}: expected one command writing ca.crt, found {found}"
    return re.sub(r"\s+", " ", found[0])


def kubeconfig(folder: Path, *, embedded: bool) -> Path:
    (folder / "ca.pem").write_bytes(CA)
    cluster: dict[str, object] = {"server": "https://192.0.2.10:6443"}
    if embedded:
        cluster["certificate-authority-data"] = base64.b64encode(CA).decode()
    else:
        cluster["certificate-authority"] = "ca.pem"  # by path, relative to the kubeconfig
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "lab", "cluster": cluster}],
        "users": [{"name": "admin", "user": {"token": "not-a-real-token"}}],
        "contexts": [{"name": "lab", "context": {"cluster": "lab", "user": "admin"}}],
        "current-context": "lab",
    }
    path = folder / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda path: path.name)
@pytest.mark.parametrize("embedded", [True, False], ids=["embedded-ca", "ca-by-path"])
def test_the_documented_recipe_writes_the_clusters_ca(
    document: Path, embedded: bool, tmp_path: Path
) -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is needed for this test: apt-get install kubernetes-client"
    environment = {**os.environ, "KUBECONFIG": str(kubeconfig(tmp_path, embedded=embedded))}
    work = tmp_path / "addon"
    work.mkdir()
    subprocess.run(
        ["bash", "-euo", "pipefail", "-c", recipe(document)],
        cwd=work,
        env=environment,
        check=True,
        timeout=30,
    )
    assert (work / "ca.crt").read_bytes() == CA
