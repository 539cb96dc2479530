"""Bearer tokens that expire, kept fresh: renewed before they expire and once after a 401.

kubernetes_asyncio runs a kubeconfig's exec plugin, reads its `tokenFile` and refreshes an
OIDC or GCP login once, when the kubeconfig is loaded; later, only a caller that asks again
gets a new token. Those tokens are short-lived (EKS: 15 minutes; kubelogin, GKE: an hour;
a pod's projected service account token is rotated by the kubelet), so without asking
again every request would fail with 401 once the first token expired.

`Credentials` asks again. It is installed as the client configuration's
`refresh_api_key_hook`, which kubernetes_asyncio awaits before each request; that check
costs one clock read until 80 % of the token's lifetime has passed (a token file is read
again every minute, as client-go does), then the source gives a new token. After a 401 the
client asks `renew()` for a new token and sends the request once more; a token renewed
while that request was out counts, so a burst of 401s runs the plugin once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, Protocol

from mqtt_kube.core.errors import KubeError

logger = logging.getLogger(__name__)

TOKEN_KEY: Final = "BearerToken"  # noqa: S105 - where the client Configuration keeps it
RENEW_AT: Final = 0.8  # of a token's lifetime, as the kubelet renews
FILE_PERIOD: Final = 60.0  # seconds between reads of a token file
RETRY_AFTER: Final = 10.0  # seconds before trying again after a failed renewal


@dataclass(frozen=True)
class Token:
    value: str  # without the "Bearer " prefix
    expires: datetime | None = None  # None: not said; renewed on a 401 (or by `period`)


class TokenSource(Protocol):
    """Where new tokens come from: an exec plugin, a file, an identity provider."""

    @property
    def describe(self) -> str: ...  # for log lines: "exec plugin aws", "token file /x"

    @property
    def period(self) -> float | None: ...  # seconds between renewals without an expiry

    async def fetch(self) -> Token: ...


class Configuration(Protocol):
    """The part of kubernetes_asyncio's client Configuration this module touches."""

    api_key: dict[str, str]
    refresh_api_key_hook: Coroutine[Any, Any, Any] | Callable[..., Any] | None


class Credentials:
    """Keeps the bearer token of one client configuration fresh."""

    def __init__(self, source: TokenSource, configuration: Configuration) -> None:
        self._source = source
        self._configuration = configuration
        self._lock = asyncio.Lock()
        self._renew_at = 0.0  # monotonic; 0: renew before the first request
        self.renewed_at = -1.0  # monotonic time of the last renewal
        self.renewals = 0
        configuration.refresh_api_key_hook = self._before_request

    @property
    def describe(self) -> str:
        return self._source.describe

    def installed(self, token: Token) -> None:
        """The token the kubeconfig loader got at start-up: renew it when it is due."""
        self._set(token)

    async def _before_request(self, _configuration: object) -> None:
        if time.monotonic() < self._renew_at:
            return
        async with self._lock:
            if time.monotonic() < self._renew_at:
                return  # renewed while this request waited for the lock
            await self._renew()

    async def renew(self, *, since: float) -> bool:
        """A new token after a 401 of a request sent at `since` (monotonic); False: none."""
        async with self._lock:
            if self.renewed_at >= since:
                return True  # another request renewed it meanwhile
            return await self._renew()

    async def _renew(self) -> bool:
        try:
            token = await self._source.fetch()
        except (KubeError, OSError, ValueError) as exc:
            self._renew_at = time.monotonic() + RETRY_AFTER
            logger.warning("cannot renew the Kubernetes token (%s): %s", self.describe, exc)
            return False
        self._set(token)
        self.renewals += 1
        logger.debug("Kubernetes token renewed (%s)", self.describe)
        return True

    def _set(self, token: Token) -> None:
        now = time.monotonic()
        self._configuration.api_key[TOKEN_KEY] = f"Bearer {token.value}"
        self.renewed_at = now
        if token.expires is not None:
            left = (token.expires - datetime.now(UTC)).total_seconds()
            self._renew_at = now + max(0.0, left) * RENEW_AT
        elif self._source.period is not None:
            self._renew_at = now + self._source.period
        else:
            self._renew_at = float("inf")


def parse_expiry(text: object) -> datetime | None:
    """An RFC 3339 time (`expirationTimestamp`), as an aware datetime; None when absent."""
    if text is None or text == "":
        return None
    if isinstance(text, datetime):
        return text if text.tzinfo else text.replace(tzinfo=UTC)
    try:
        parsed = datetime.fromisoformat(str(text))
    except ValueError as exc:
        raise KubeError(f"unreadable token expiry {text!r}") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT (an OIDC id-token), read without checking its signature."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return datetime.fromtimestamp(float(claims["exp"]), UTC)
    except (binascii.Error, ValueError, KeyError, TypeError, OverflowError):
        return None


class TokenFile:
    """A token read from a file, again every minute (kubeconfig `tokenFile`, service account)."""

    period = FILE_PERIOD

    def __init__(self, path: Path) -> None:
        self.path = path

    @property
    def describe(self) -> str:
        return f"token file {self.path}"

    async def fetch(self) -> Token:
        value = self.path.read_text().strip()
        if not value:
            raise KubeError(f"{self.path} is empty")
        return Token(value)


class ExecPlugin:
    """A kubeconfig `exec` credential plugin (aws, kubelogin, gke-gcloud-auth-plugin, ...)."""

    period = None

    def __init__(self, exec_config: dict[str, Any]) -> None:
        self._config = exec_config

    @property
    def describe(self) -> str:
        return f"exec plugin {self._config.get('command', '?')}"

    async def fetch(self) -> Token:
        # Imported here: kubernetes_asyncio's config package brings the client models.
        from kubernetes_asyncio.config.config_exception import ConfigException
        from kubernetes_asyncio.config.exec_provider import ExecProvider
        from kubernetes_asyncio.config.kube_config import ConfigNode

        try:
            status = await ExecProvider(ConfigNode("exec", self._config)).run()
        except ConfigException as exc:
            raise KubeError(str(exc)) from exc
        token = status.get("token") if isinstance(status, dict) else None
        if not token:
            raise KubeError("the plugin gave no token (a client certificate is not renewed)")
        return Token(str(token), parse_expiry(status.get("expirationTimestamp")))


class LoaderLogin:
    """An OIDC or GCP `auth-provider` login, refreshed by kubernetes_asyncio's own loader."""

    period = None

    def __init__(self, loader: Any) -> None:
        self._loader = loader  # a kubernetes_asyncio KubeConfigLoader

    @property
    def describe(self) -> str:
        return f"auth-provider {self._loader.provider}"

    async def fetch(self) -> Token:
        loader = self._loader
        config = loader._user["auth-provider"]["config"].value  # the provider's settings
        try:
            if loader.provider == "gcp":
                config.pop("access-token", None)  # makes the loader log in again
                header = await loader.load_gcp_token()
                expires = parse_expiry(config.get("expiry"))
            else:
                await loader._refresh_oidc(loader._user["auth-provider"])
                header = await loader._load_oid_token()
                expires = None
        except Exception as exc:  # the identity provider's own errors, of any kind
            raise KubeError(f"{type(exc).__name__}: {exc}") from exc
        value = str(header).removeprefix("Bearer ")
        return Token(value, expires or jwt_expiry(value))


def kubeconfig_source(loader: Any) -> tuple[TokenSource, Token] | None:
    """The source of the loaded kubeconfig user's tokens, and the token it gave at load time;
    None for a static token, a password or a client certificate (nothing to renew)."""
    user = loader._user.value if loader._user is not None else {}  # the user entry
    token = str(getattr(loader, "token", "")).removeprefix("Bearer ").strip()
    if loader.provider == "gcp":
        expiry = loader._user["auth-provider"]["config"].value.get("expiry")
        return LoaderLogin(loader), Token(token, parse_expiry(expiry))
    if loader.provider == "oidc":
        return LoaderLogin(loader), Token(token, jwt_expiry(token))
    if "exec" in user and token:
        expiry = getattr(loader, "exec_plugin_expiry", None)
        return ExecPlugin(user["exec"]), Token(token, parse_expiry(expiry))
    if user.get("tokenFile") and not user.get("token"):
        path = Path(user["tokenFile"])
        if not path.is_absolute() and loader._user.path:
            path = Path(loader._user.path).parent / path
        return TokenFile(path), Token(token)
    return None
