"""Install a Home Assistant Core tier into the cache: idempotent, and quick when it is there.

A host tier lives in `<cache>/<version>/venv`, on the host's Python. A chroot tier's
Debian root is `<cache>/debian-<suite>`, with the release's virtual environment inside it
at `/opt/homeassistant-<version>`. The steps, taken unless an install already finished
with the same recipe (a stamp next to the environment records the release, pip,
the integrations and the chroot's packages it was made with):

1. a pinned pip (one that knows `--uploaded-prior-to`);
2. the release's wheel, and its own `homeassistant/package_constraints.txt` as constraints;
3. Home Assistant itself, then the requirements of every integration it sets up
   (`requirements.py`, run by the new environment's Python; MQTT's among them), so that
   it can run with `--skip-pip` and never installs anything at run time.

pip runs without this machine's pip configuration (`PIP_CONFIG_FILE` is the null device):
a global constraints file or a local mirror must not change what a release gets, and the
install works the same with and without them. Unpinned dependencies are taken as they
were while the release was current (`Tier.uploaded_prior_to`). One lock file per tier
keeps two runs from installing the same tier at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import sys
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from mqtt_kube.testing.hacore import chroot
from mqtt_kube.testing.hacore.process import ProvisionError, run_logged
from mqtt_kube.testing.hacore.tiers import Tier, cache_root

PIP_VERSION: Final = "26.3"
# Integrations the test configuration sets up besides Home Assistant's defaults.
INTEGRATIONS: Final = ("mqtt", "config", "onboarding")
CHROOT_PACKAGES: Final = (
    "ca-certificates",
    "g++",  # two default dependencies have no wheels for Python 3.14 and are compiled
    "libturbojpeg0",  # the camera integration's JPEG library
    "python3.14",
    "python3.14-dev",
    "python3.14-venv",
)
CHROOT_PYTHON: Final = "/usr/bin/python3.14"
_PATH: Final = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
_REQUIREMENTS_SCRIPT: Final = Path(__file__).with_name("requirements.py")


@dataclass(frozen=True)
class Installation:
    """An installed tier: how to run its Python, on the host or in its chroot."""

    tier: Tier
    root: Path | None  # the chroot; None on the host
    venv: str  # the environment's path as its own Python sees it

    @property
    def python(self) -> str:
        return f"{self.venv}/bin/python"

    @property
    def stamp(self) -> Path:
        """The record of a finished install, next to the environment."""
        return self.host_path(f"{self.venv}.installed.json")

    def host_path(self, inner: str) -> Path:
        """Where a path of the environment's file system is on the host."""
        return Path(inner) if self.root is None else self.root / inner.lstrip("/")

    def inner_path(self, host: Path) -> str:
        """The environment's name for a host path (inside the root for a chroot)."""
        if self.root is None:
            return str(host)
        return "/" + str(host.resolve().relative_to(self.root.resolve()))

    def command(self, *args: str, env: dict[str, str], python: str | None = None) -> list[str]:
        """argv that runs the environment's Python (or `python`) with `args`.

        In a chroot the process gets only `env` and a minimal base, in a mount namespace of
        its own with /proc mounted (`chroot.inside`); on the host `env` is for the caller
        to pass to the process.
        """
        program = python or self.python
        if self.root is None:
            return [program, *args]
        settings = [f"{key}={value}" for key, value in env.items()]
        base = ["HOME=/root", "LANG=C.UTF-8", f"PATH={_PATH}"]
        return chroot.inside(self.root, ["/usr/bin/env", "-i", *base, *settings, program, *args])


def installation(tier: Tier) -> Installation:
    """Where `tier` is (or would be) installed."""
    if tier.debian_suite is None:
        return Installation(tier, None, str(cache_root() / tier.version / "venv"))
    root = cache_root() / f"debian-{tier.debian_suite}"
    return Installation(tier, root, f"/opt/homeassistant-{tier.version}")


def installed(tier: Tier) -> Installation | None:
    """The tier's installation when provisioning has completed, else None."""
    place = installation(tier)
    if not place.stamp.is_file():
        return None
    with contextlib.suppress(ValueError):
        if json.loads(place.stamp.read_text()).get("recipe") == recipe(tier):
            return place
    return None


def provision(tier: Tier, *, log: bool = True) -> Installation:
    """Install `tier` unless it is installed; its Installation, or a ProvisionError."""
    done = installed(tier)
    if done is not None:
        return done
    cache = cache_root()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ProvisionError(f"cannot create the Home Assistant cache {cache}: {exc}") from exc
    with _locked(cache / f"{tier.slug}.lock"):
        done = installed(tier)  # another run may have finished it while we waited
        if done is not None:
            return done
        return _Installer(installation(tier), log=log).run()


class _Installer:
    def __init__(self, place: Installation, *, log: bool) -> None:
        self.place = place
        self.tier = place.tier
        self.log = log
        self.started = time.monotonic()
        self.env: dict[str, str] = {}

    def say(self, text: str) -> None:
        if self.log:
            elapsed = time.monotonic() - self.started
            print(f"[{self.tier.slug} {elapsed:6.1f} s] {text}", file=sys.stderr, flush=True)

    def run(self) -> Installation:
        place, tier = self.place, self.tier
        if place.root is not None:
            assert tier.debian_suite is not None
            self.say(f"Debian {tier.debian_suite} chroot in {place.root}")
            chroot.ensure_root(place.root, suite=tier.debian_suite, packages=CHROOT_PACKAGES)
        self.env = self._pip_env()
        self.say(f"virtual environment {place.venv}")
        venv = place.host_path(place.venv)
        if venv.exists():
            shutil.rmtree(venv)  # an install that did not finish
        python = CHROOT_PYTHON if place.root is not None else _host_python(tier)
        self._python("-m", "venv", place.venv, what="creating it", python=python)
        pip = ("-m", "pip", "install", "--quiet")
        self._python(*pip, f"pip=={PIP_VERSION}", what="installing pip")
        wheel, constraints = self._download()
        dated = (*pip, f"--uploaded-prior-to={tier.uploaded_prior_to}", "-c", constraints)
        self.say(f"homeassistant=={tier.version} with its package constraints")
        self._python(*dated, wheel, what="installing Home Assistant")
        script = _REQUIREMENTS_SCRIPT.read_text()
        listed = self._python("-", *INTEGRATIONS, what="listing requirements", stdin=script)
        needed = listed.split()
        self.say(f"{len(needed)} requirements of the integrations it sets up")
        self._python(*dated, *needed, what="installing the integrations' requirements")
        check = "import homeassistant.const as c; print(c.__version__)"
        version = self._python("-c", check, what="importing Home Assistant").strip()
        if version != tier.version:
            raise ProvisionError(f"{place.venv} holds Home Assistant {version}, not {tier.version}")
        record = {"recipe": recipe(tier), "requirements": needed}
        place.stamp.write_text(json.dumps(record, indent=1) + "\n")
        self.say("ready")
        return place

    def _python(
        self, *args: str, what: str, python: str | None = None, stdin: str | None = None
    ) -> str:
        command = self.place.command(*args, env=self.env, python=python)
        env = self.env if self.place.root is None else None
        return run_logged(command, what=f"{self.tier.slug}: {what}", env=env, stdin=stdin)

    def _download(self) -> tuple[str, str]:
        """The release's wheel (inside the environment's folder) and its constraints file."""
        place, tier = self.place, self.tier
        folder = f"{place.venv}/wheels"
        self.say(f"downloading homeassistant=={tier.version}")
        download = ("-m", "pip", "download", "--quiet", "--no-deps", "-d", folder)
        self._python(*download, f"homeassistant=={tier.version}", what="downloading the wheel")
        wheels = sorted(place.host_path(folder).glob(f"homeassistant-{tier.version}-*.whl"))
        if not wheels:
            raise ProvisionError(f"pip downloaded no homeassistant {tier.version} wheel")
        with zipfile.ZipFile(wheels[0]) as archive:
            constraints = archive.read("homeassistant/package_constraints.txt")
        target = place.host_path(f"{place.venv}/package_constraints.txt")
        target.write_bytes(constraints)
        return place.inner_path(wheels[0]), place.inner_path(target)

    def _pip_env(self) -> dict[str, str]:
        """pip's settings: none of this machine's pip configuration, the host's CAs."""
        settings = {"PIP_CONFIG_FILE": os.devnull, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
        bundle = _ca_bundle()
        root = self.place.root
        if bundle is not None:
            settings["PIP_CERT"] = (
                str(bundle) if root is None else chroot.install_host_ca(root, bundle)
            )
        if root is not None:
            return settings
        inherited = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
        return {**inherited, **settings}


def _host_python(tier: Tier) -> str:
    """A Python 3.11 or 3.12 on the host (the ones Home Assistant 2024.3 runs on)."""
    if sys.version_info[:2] in ((3, 11), (3, 12)):
        return sys.executable
    for name in ("python3.11", "python3.12"):
        found = shutil.which(name)
        if found:
            return found
    raise ProvisionError(f"Home Assistant {tier.version} needs Python 3.11 or 3.12 on the host")


def _ca_bundle() -> Path | None:
    """The CA bundle pip uses on this host: `$PIP_CERT`, else Debian's system bundle."""
    for candidate in (os.environ.get("PIP_CERT", ""), "/etc/ssl/certs/ca-certificates.crt"):
        if candidate and Path(candidate).is_file():
            return Path(candidate)
    return None


def recipe(tier: Tier) -> dict[str, object]:
    """What an install is made of: a stamp that records another recipe is installed anew."""
    return {
        "version": tier.version,
        "uploaded_prior_to": tier.uploaded_prior_to,
        "pip": PIP_VERSION,
        "integrations": list(INTEGRATIONS),
        "debian": None if tier.debian_suite is None else [tier.debian_suite, *CHROOT_PACKAGES],
    }


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
