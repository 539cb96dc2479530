"""The add-on's way into the cluster: a kubeconfig, or a ServiceAccount token made into one.

Both are files the user places in the add-on's config folder. A token becomes a kubeconfig
in the add-on's private data folder, readable by this user only; the token itself never
reaches the log.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Final

import yaml

from mqtt_kube.addon.options import AddonEnvironment, AddonError, AddonOptions

logger = logging.getLogger(__name__)

KUBECONFIG_NAMES: Final = ("kubeconfig", "kubeconfig.yaml", "kubeconfig.yml")
# The file names a ServiceAccount token Secret gives its keys.
TOKEN_NAME: Final = "token"  # noqa: S105 - a file name, not a secret
CA_NAME: Final = "ca.crt"
GENERATED_KUBECONFIG: Final = "kubeconfig-from-token.yaml"  # written in the data folder


def addon_file(config_dir: Path, name: str, *, option: str) -> Path:
    """A file the option names in the add-on's config folder; AddonError when it is missing."""
    path = config_dir / name
    if not path.is_file():
        raise AddonError(f"option {option!r} names {path}, which does not exist")
    return path


def find_kubeconfig(config_dir: Path, *, option: str | None) -> Path:
    """The kubeconfig in the add-on's config folder: the one the option names, else the
    first of `kubeconfig`, `kubeconfig.yaml`, `kubeconfig.yml`."""
    names = (option,) if option else KUBECONFIG_NAMES
    for name in names:
        path = config_dir / name
        if path.is_file():
            return path
    tried = ", ".join(str(config_dir / name) for name in names)
    raise AddonError(
        f"no kubeconfig found (looked for {tried}): put a kubeconfig for your cluster in the "
        "add-on's config folder, or a ServiceAccount token named `token` with the "
        "`kubernetes_server` option set, or set `kubernetes.kubeconfig` in the config file"
    )


def write_token_kubeconfig(config_dir: Path, data_dir: Path, *, server: str) -> Path:
    """A kubeconfig for `server` with the bearer token in `<config_dir>/token` and the CA in
    `<config_dir>/ca.crt` when there is one (else the system CAs verify the server); written
    into `data_dir`, readable by this user only. The token never reaches the log."""
    token_path = config_dir / TOKEN_NAME
    try:
        token = token_path.read_text(encoding="utf-8").strip()
    except FileNotFoundError as exc:
        raise AddonError(
            f"option 'kubernetes_server' is set but {token_path} does not exist: put the "
            "ServiceAccount's token there"
        ) from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise AddonError(f"{token_path}: cannot read the token: {exc}") from exc
    if not token or any(char.isspace() for char in token):
        raise AddonError(f"{token_path}: not a token (expected one line without spaces)")
    cluster = {"server": server}
    ca_path = config_dir / CA_NAME
    if ca_path.exists():
        try:
            ca = ca_path.read_bytes()
        except OSError as exc:
            raise AddonError(f"{ca_path}: cannot read the CA: {exc.strerror}") from exc
        if b"-----BEGIN CERTIFICATE-----" not in ca:
            raise AddonError(f"{ca_path}: not a PEM certificate")
        cluster["certificate-authority-data"] = base64.b64encode(ca).decode("ascii")
    kubeconfig = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "addon", "cluster": cluster}],
        "users": [{"name": "addon", "user": {"token": token}}],
        "contexts": [{"name": "addon", "context": {"cluster": "addon", "user": "addon"}}],
        "current-context": "addon",
    }
    data_dir.mkdir(parents=True, exist_ok=True)
    path = data_dir / GENERATED_KUBECONFIG
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        os.fchmod(file.fileno(), 0o600)  # a file left by an earlier start may be wider
        yaml.safe_dump(kubeconfig, file, sort_keys=False)
    logger.info(
        "Kubernetes API %s with the token in %s, verified against %s",
        server,
        token_path,
        ca_path if "certificate-authority-data" in cluster else "the system CAs",
    )
    return path


def kube_credentials(env: AddonEnvironment, options: AddonOptions) -> Path:
    """The kubeconfig to use: written from the token when `kubernetes_server` is set, else
    the kubeconfig file in the add-on's config folder."""
    if options.kubernetes_server:
        return write_token_kubeconfig(
            env.config_dir, env.data_dir, server=options.kubernetes_server
        )
    kubeconfig = find_kubeconfig(env.config_dir, option=options.kubeconfig)
    logger.info("Kubernetes credentials from %s", kubeconfig)
    return kubeconfig
