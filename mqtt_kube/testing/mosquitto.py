"""A real mosquitto broker on a loopback port, for tests, benchmarks and `make demo`.

CI machines have no Docker engine, so this runs the distribution's `mosquitto` binary with
a generated config in a temporary folder: one plain listener, optionally a password file
and a TLS listener (server-verified, or mutual TLS). `restart()` keeps the ports, so a test
can take the broker away mid-run and bring it back. The broker is stopped by its own pid.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Final, Self

HOST: Final = "127.0.0.1"
START_TIMEOUT: Final = 5.0
STOP_TIMEOUT: Final = 5.0
_PBKDF2_ITERATIONS: Final = 101  # what mosquitto_passwd writes for the `$7$` (PBKDF2-SHA512) format


@dataclass(frozen=True)
class BrokerTls:
    """A TLS listener: the broker's certificate and the CA for client certificates."""

    cafile: Path
    certfile: Path
    keyfile: Path
    require_certificate: bool = False  # True: mutual TLS


class Mosquitto:
    """One mosquitto process; a sync context manager that starts and stops it."""

    def __init__(
        self,
        *,
        port: int | None = None,
        users: Mapping[str, str] | None = None,
        allow_anonymous: bool | None = None,
        tls: BrokerTls | None = None,
        tls_port: int | None = None,
        acl: str | None = None,
    ) -> None:
        """Describe the broker; nothing runs until `start()`.

        `users` maps user names to passwords; with users, anonymous clients are refused
        unless `allow_anonymous` says otherwise. `acl` is the text of an `acl_file` (what
        each client may read and write). Ports default to free ones.
        """
        self.host = HOST
        self.port = port or free_port()
        self.tls = tls
        self.tls_port = (tls_port or free_port()) if tls else None
        self.users = dict(users or {})
        self.acl = acl
        self.allow_anonymous = not self.users if allow_anonymous is None else allow_anonymous
        self._binary = find_mosquitto()
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def folder(self) -> Path:
        """The temporary folder holding the config, password file and log."""
        if self._tmp is None:
            raise RuntimeError("mosquitto has not been started")
        return Path(self._tmp.name)

    @property
    def log_file(self) -> Path:
        return self.folder / "mosquitto.log"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> None:
        """Write the config, start the broker and wait until every listener accepts."""
        if self.running:
            return
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="mqtt-kube-mosquitto-")
            self._write_config()
        with self.log_file.open("ab") as log:
            self._process = subprocess.Popen(  # noqa: S603 - our own binary and config
                [self._binary, "-c", str(self.folder / "mosquitto.conf")],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        ports = [self.port] if self.tls_port is None else [self.port, self.tls_port]
        try:
            for port in ports:
                self._wait_for_port(port)
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Terminate the broker (kill it after 5 s); its folder stays until `close()`."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    def restart(self) -> None:
        """Stop and start again on the same ports, as a broker upgrade would."""
        self.stop()
        self.start()

    def close(self) -> None:
        """Stop the broker and remove its folder."""
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def log_text(self) -> str:
        """What the broker has logged so far."""
        with contextlib.suppress(FileNotFoundError, RuntimeError):
            return self.log_file.read_text(errors="replace")
        return ""

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Mosquitto({self.host}:{self.port}, tls_port={self.tls_port})"

    def _write_config(self) -> None:
        lines = [
            "persistence false",
            f"log_dest file {self.log_file}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp_format %H:%M:%S",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto would drop to the `mosquitto` user, which cannot read our
            # private temporary folder (password file, keys).
            lines.append("user root")
        if self.users:
            password_file = self.folder / "passwords"
            password_file.write_text(
                "".join(f"{name}:{hash_password(pw)}\n" for name, pw in self.users.items())
            )
            password_file.chmod(0o600)
            lines.append(f"password_file {password_file}")
        if self.acl is not None:
            acl_file = self.folder / "acl"
            acl_file.write_text(self.acl)
            lines.append(f"acl_file {acl_file}")
        lines.append(f"listener {self.port} {self.host}")
        if self.tls is not None:
            lines += [
                f"listener {self.tls_port} {self.host}",
                f"cafile {self.tls.cafile}",
                f"certfile {self.tls.certfile}",
                f"keyfile {self.tls.keyfile}",
                f"require_certificate {'true' if self.tls.require_certificate else 'false'}",
            ]
        (self.folder / "mosquitto.conf").write_text("\n".join(lines) + "\n")

    def _wait_for_port(self, port: int) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            process = self._process
            if process is None or process.poll() is not None:
                code = None if process is None else process.returncode
                raise RuntimeError(
                    f"mosquitto exited (status {code}) before listening on {self.host}:{port}; "
                    f"its log:\n{self.log_text()}"
                )
            with contextlib.suppress(OSError), socket.create_connection((self.host, port), 0.2):
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"mosquitto did not listen on {self.host}:{port} within {START_TIMEOUT:g} s; "
                    f"its log:\n{self.log_text()}"
                )
            time.sleep(0.01)


def find_mosquitto() -> str:
    """The broker binary: /usr/sbin/mosquitto, else `mosquitto` on PATH."""
    for candidate in ("/usr/sbin/mosquitto", shutil.which("mosquitto")):
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    raise RuntimeError(
        "the mosquitto broker is not installed (looked for /usr/sbin/mosquitto and `mosquitto` "
        "on PATH); install it with `apt-get install mosquitto` or `make mosquitto`"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """A password-file entry in mosquitto's `$7$` format, as `mosquitto_passwd` writes it."""
    salt = salt if salt is not None else os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, _PBKDF2_ITERATIONS)
    encode = base64.b64encode
    return f"$7${_PBKDF2_ITERATIONS}${encode(salt).decode()}${encode(digest).decode()}"
