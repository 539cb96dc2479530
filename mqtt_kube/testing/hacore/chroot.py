"""A Debian chroot for a Home Assistant release that needs a newer Python than the host's.

The root is debootstrapped from the Debian mirror the host's apt already uses (or
`MQTT_KUBE_DEBIAN_MIRROR`), with the packages asked for, once; a stamp in the root says
which suite and packages it holds, and a root without a matching stamp is built anew.
bookworm's debootstrap has no script for newer suites than trixie: the `sid` script
bootstraps them. Processes in the chroot share the host's network namespace (so a broker
on the host's loopback is reachable) and need /proc: `inside` gives each one a private
mount namespace with /proc mounted, which ends with the process.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Final

from mqtt_kube.testing.hacore.process import ProvisionError, run_logged

MIRROR_ENV: Final = "MQTT_KUBE_DEBIAN_MIRROR"
SCRIPTS: Final = Path("/usr/share/debootstrap/scripts")
DEBOOTSTRAP: Final = Path("/usr/sbin/debootstrap")
KEYRING: Final = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
STAMP: Final = ".mqtt-kube-debootstrap"
CA_BUNDLE: Final = "/etc/ssl/certs/mqtt-kube-host-ca.crt"  # the host's CAs, inside the root
_SOURCES: Final = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))


def ensure_root(root: Path, *, suite: str, packages: Sequence[str]) -> None:
    """Make `root` a `suite` system with `packages` installed (nothing to do when it is)."""
    wanted = f"{suite}\n" + "".join(f"{name}\n" for name in sorted(packages))
    stamp = root / STAMP
    if stamp.is_file() and stamp.read_text() == wanted:
        return
    if os.geteuid() != 0:
        raise ProvisionError(f"building the Debian {suite} chroot in {root} needs root")
    ensure_host_package("debootstrap", provides=DEBOOTSTRAP)
    ensure_host_package("debian-archive-keyring", provides=KEYRING)  # to check the mirror
    if root.exists():
        unmount_all(root)
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    script = SCRIPTS / suite
    if not script.exists():
        script = SCRIPTS / "sid"  # newer suites than this debootstrap knows share sid's
    command = [
        str(DEBOOTSTRAP),
        "--variant=minbase",
        f"--keyring={KEYRING}",
        f"--include={','.join(sorted(packages))}",
        suite,
        str(root),
        debian_mirror(),
        str(script),
    ]
    run_logged(command, what=f"debootstrap of Debian {suite} into {root}")
    stamp.write_text(wanted)


def install_host_ca(root: Path, bundle: Path) -> str:
    """Copy the host's CA bundle into the root (a TLS-intercepting proxy's CA included)."""
    target = root / CA_BUNDLE.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(bundle, target)
    return CA_BUNDLE


def inside(root: Path, command: Sequence[str]) -> list[str]:
    """argv that runs `command` in the root, in a mount namespace of its own with /proc.

    The /proc mount belongs to that namespace alone: it goes away with the process, however
    the process ends, and processes of other runs never share or unmount it. `unshare`,
    `sh`, `chroot` and `env` each exec the next, so the process keeps its pid.
    """
    mount_and_enter = 'mount -t proc proc "$1/proc" && exec chroot "$@"'
    private = ["unshare", "--mount", "--propagation", "private"]
    return [*private, "sh", "-c", mount_and_enter, "sh", str(root), *command]


def unmount_all(root: Path) -> None:
    """Unmount whatever is mounted below `root` (before the root is removed)."""
    prefix = str(root.resolve()).rstrip("/") + "/"
    with open("/proc/self/mounts") as mounts:
        points = [line.split()[1] for line in mounts if line.split()[1].startswith(prefix)]
    for point in sorted(points, key=len, reverse=True):
        _unmount(Path(point))


def _unmount(target: Path) -> None:
    try:
        run_logged(["umount", str(target)], what=f"unmounting {target}")
    except ProvisionError:
        # Busy (a process that outlived its test still holds it): detach it now, it goes
        # away with the last user.
        run_logged(["umount", "-l", str(target)], what=f"detaching {target}")


def debian_mirror() -> str:
    """The Debian mirror: `$MQTT_KUBE_DEBIAN_MIRROR`, else the one the host's apt uses."""
    override = os.environ.get(MIRROR_ENV, "").strip()
    if override:
        return override
    for uri in _apt_uris():
        if re.search(r"/debian/?$", uri):
            return uri.rstrip("/")
    raise ProvisionError(
        f"no Debian mirror found in the host's apt sources ({', '.join(map(str, _SOURCES))}); "
        f"set {MIRROR_ENV} to the mirror's URL"
    )


def _apt_uris() -> Iterator[str]:
    """The `deb` URIs of the host's apt sources, in one-line and deb822 form."""
    files: list[Path] = []
    for source in _SOURCES:
        if source.is_dir():
            files += sorted(p for p in source.iterdir() if p.suffix in (".list", ".sources"))
        elif source.is_file():
            files.append(source)
    for path in files:
        text = path.read_text(errors="replace")
        for line in text.splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) >= 3 and words[0] == "deb":
                yield next(w for w in words[1:] if not w.startswith("["))
            elif words[:1] == ["URIs:"]:
                yield from words[1:]


def ensure_host_package(package: str, *, provides: Path) -> None:
    """Install Debian `package` with apt-get when the file it provides is not there."""
    if provides.exists():
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    run_logged(["apt-get", "update", "-qq"], what="apt-get update", env=env)
    run_logged(["apt-get", "install", "-y", "-qq", package], what=f"installing {package}", env=env)
