"""Raw JSON access to the Kubernetes API, through kubernetes_asyncio's ApiClient.

kubernetes_asyncio keeps doing what it is good at — kubeconfig and in-cluster loading,
TLS, bearer tokens — while mqtt-kube sends and reads plain JSON: no generated models on the
hot path, any kind (CRDs included) by URL, and the patch type always chosen explicitly.
Tokens that expire are renewed by `mqtt_kube.kube.credentials` (before expiry, and once
after a 401, when the request is sent again). Requests say who sends them
(`mqtt-kube/<version>`, for audit logs), `Warning` headers of the answers are logged, and
every failure leaves this module as a `KubeError` subclass, with a message that names what
the API server refused even where its own message does not.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from kubernetes_asyncio.config.config_exception import ConfigException
from yarl import URL

from mqtt_kube import __version__
from mqtt_kube.config.model import KubernetesSettings
from mqtt_kube.core.errors import Conflict, Forbidden, Gone, Invalid, KubeError, NotFound
from mqtt_kube.core.jsondecode import loads
from mqtt_kube.core.kinds import KindInfo, builtin_kind
from mqtt_kube.kube.credentials import Credentials, TokenFile, kubeconfig_source

logger = logging.getLogger(__name__)

MERGE_PATCH: Final = "application/merge-patch+json"
JSON_PATCH: Final = "application/json-patch+json"
REQUEST_TIMEOUT: Final = 30.0
PROBE_TIMEOUT: Final = 5.0  # seconds for a new connection and /version to answer
USER_AGENT: Final = f"mqtt-kube/{__version__}"
SERVICE_ACCOUNT_TOKEN: Final = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")
_READ_BUFSIZE: Final = 2**21  # as kubernetes_asyncio sets it: watch events can be large
_AUTH: Final = ["BearerToken"]
_ERRORS: Final[dict[int, type[KubeError]]] = {
    401: Forbidden,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    410: Gone,
    422: Invalid,
}

# What the API server says of the JSON patch it cannot apply, whatever the reason.
_OPAQUE_422: Final = "the server rejected our request due to an error in our request"
_UNKNOWN_FIELD: Final = re.compile(r'unknown field "([^"]+)"')

JsonObject = dict[str, Any]


def error_from_status(status: int, body: bytes | str, *, what: str) -> KubeError:
    """A `KubeError` for an HTTP status and a (Kubernetes `Status`) body, message kept short.

    Two 422s get words of their own: a field the API does not know (under strict field
    validation the server puts it at the end of a message that holds the whole patched
    object), and a JSON patch that does not apply (the server says only that it refused).
    """
    message = ""
    reason = ""
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict):
        message = str(parsed.get("message") or "")
        reason = str(parsed.get("reason") or "")
    if not message:
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        message = text.strip()[:200] or f"HTTP {status}"
    unknown = tuple(_UNKNOWN_FIELD.findall(message)) if "strict decoding error" in message else ()
    if unknown:
        message = "the API does not know the field " + ", ".join(unknown)
    elif status == 422 and message == _OPAQUE_422:
        message = (
            "the JSON patch does not apply to the object (a field on its path does not "
            "exist, or a list is shorter than the index)"
        )
    error_class = _ERRORS.get(status, KubeError)
    return error_class(
        f"{what}: {message[:500]}", status=status, reason=reason, unknown_fields=unknown
    )


async def load_configuration(settings: KubernetesSettings) -> k8s_client.Configuration:
    """Client settings from the configured kubeconfig, $KUBECONFIG, ~/.kube/config, in-cluster."""
    configuration, _ = await _load(settings)
    return configuration


async def _load(
    settings: KubernetesSettings,
) -> tuple[k8s_client.Configuration, Credentials | None]:
    """The client settings, and what keeps their token fresh (None: it does not expire)."""
    configuration = k8s_client.Configuration()
    credentials: Credentials | None = None
    path = settings.kubeconfig or os.environ.get("KUBECONFIG") or _home_kubeconfig()
    try:
        if path:
            loader = await k8s_config.load_kube_config(
                config_file=path, context=settings.context, client_configuration=configuration
            )
            logger.info("Kubernetes API %s (kubeconfig %s)", configuration.host, path)
            found = kubeconfig_source(loader)
            if found is not None:
                source, token = found
                credentials = Credentials(source, configuration)
                credentials.installed(token)
        else:
            # kubernetes_asyncio leaves this function unannotated.
            k8s_config.load_incluster_config(  # type: ignore[no-untyped-call]
                client_configuration=configuration, try_refresh_token=False
            )
            logger.info("Kubernetes API %s (in-cluster service account)", configuration.host)
            credentials = Credentials(TokenFile(SERVICE_ACCOUNT_TOKEN), configuration)
    except (ConfigException, OSError, ValueError, TypeError, KubeError) as exc:
        where = f"kubeconfig {path}" if path else "in-cluster service account"
        raise KubeError(f"cannot load Kubernetes credentials from {where}: {exc}") from exc
    if not configuration.verify_ssl:
        logger.warning(
            "kubeconfig asks to skip TLS verification of %s; mqtt-kube always verifies it",
            configuration.host,
        )
        configuration.verify_ssl = True
    return configuration, credentials


def _warning_text(header: str) -> str:
    """The text of a `Warning: 299 - "text"` header."""
    code, _, rest = header.partition(" - ")
    if code.strip().isdigit() and rest.startswith('"'):
        return rest.strip().removeprefix('"').removesuffix('"').replace('\\"', '"')
    return header


def _home_kubeconfig() -> str | None:
    home = Path("~/.kube/config").expanduser()
    return str(home) if home.exists() else None


def _without_environment_lookups(api: k8s_client.ApiClient) -> None:
    """Look up the environment's proxy for the API server once, not twice per request.

    kubernetes_asyncio opens its aiohttp session with `trust_env=True`, so every request
    reads ~/.netrc and the proxy variables in the default executor: two thread hops, which
    on a nearby API server take longer than the request itself. The proxy cannot change
    while we run, so it is resolved here; a netrc login is never wanted (aiohttp refuses
    it beside the bearer token anyway).
    """
    rest = api.rest_client
    if rest.proxy is None:
        with contextlib.suppress(LookupError):
            proxy, auth = get_env_proxy_for_url(URL(api.configuration.host))
            rest.proxy = str(proxy)
            if auth is not None:
                rest.proxy_headers = {
                    **(rest.proxy_headers or {}),
                    "Proxy-Authorization": auth.encode(),
                }
    session = rest.pool_manager
    rest.pool_manager = aiohttp.ClientSession(
        connector=session.connector, read_bufsize=_READ_BUFSIZE, trust_env=False
    )
    session.detach()  # the new session owns and closes the connector


class KubeClient:
    """JSON requests to one API server, with a cache of resolved kinds."""

    def __init__(
        self, configuration: k8s_client.Configuration, *, credentials: Credentials | None = None
    ) -> None:
        self._api = k8s_client.ApiClient(configuration)
        # Each watch holds its connection for minutes. In the requests' pool (100
        # connections) a hundred watches would leave nothing for the rest: later watches
        # and every PATCH would wait for a connection that never frees. So streams get
        # their own pool without a limit (one connection per shared watch, bounded by the
        # config), while requests keep theirs. Probes get a third, whose connections are
        # never reused: each one says whether the server takes a new connection.
        pool = configuration.connection_pool_maxsize
        configuration.connection_pool_maxsize = 0  # read once, when the pool is built
        try:
            self._streams = k8s_client.ApiClient(configuration)
        finally:
            configuration.connection_pool_maxsize = pool
        self._probes = k8s_client.ApiClient(configuration)
        for api in (self._api, self._streams, self._probes):
            _without_environment_lookups(api)
            api.user_agent = USER_AGENT
        self._credentials = credentials
        self._kinds: dict[tuple[str, str | None], KindInfo] = {}
        self.api_errors = 0
        self.request_timeout = REQUEST_TIMEOUT  # seconds for one request (not a watch)

    @classmethod
    async def connect(cls, settings: KubernetesSettings) -> KubeClient:
        configuration, credentials = await _load(settings)
        return cls(configuration, credentials=credentials)

    async def close(self) -> None:
        for api in (self._api, self._streams, self._probes):
            await api.close()

    @asynccontextmanager
    async def _send(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
        request_timeout: aiohttp.ClientTimeout | float | None = None,
        api: k8s_client.ApiClient | None = None,
        missing_ok: bool = False,
    ) -> AsyncIterator[aiohttp.ClientResponse]:
        """One request; yields the open response (status already checked).

        A 401 renews the token and sends the request once more. `missing_ok`: a 404 is an
        answer the caller expects (still raised as NotFound), not an API error.
        """
        what = f"{method} {path}"
        headers = {"Content-Type": content_type, "Accept": "application/json"}
        if api is self._probes:
            headers["Connection"] = "close"
        for attempt in (1, 2):
            sent = time.monotonic()
            try:
                response = await (api or self._api).call_api(
                    path,
                    method,
                    query_params=list((query or {}).items()),
                    header_params=dict(headers),
                    body=body,
                    auth_settings=_AUTH,
                    _preload_content=False,
                    _request_timeout=request_timeout or self.request_timeout,
                )
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                self.api_errors += 1
                raise KubeError(f"{what}: {exc or type(exc).__name__}") from exc
            credentials = self._credentials
            if response.status != 401 or attempt == 2 or credentials is None:
                break
            if not await credentials.renew(since=sent):
                break
            response.release()
            logger.info("%s: 401 Unauthorized; sending it again with a renewed token", what)
        try:
            if response.status >= 300:
                if not (missing_ok and response.status == 404):
                    self.api_errors += 1
                raise error_from_status(response.status, await response.read(), what=what)
            for warning in response.headers.getall("Warning", ()):
                logger.warning("%s: the API server warns: %s", what, _warning_text(warning))
            yield response
        except (aiohttp.ClientError, TimeoutError) as exc:
            self.api_errors += 1
            raise KubeError(f"{what}: {exc or type(exc).__name__}") from exc
        finally:
            response.release()

    async def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str] | None = None,
        body: object = None,
        content_type: str = "application/json",
        missing_ok: bool = False,
    ) -> JsonObject:
        """Send one request and return its JSON body (`missing_ok`: see `_send`)."""
        async with self._send(
            method, path, query=query, body=body, content_type=content_type, missing_ok=missing_ok
        ) as response:
            data = await response.read()
        try:
            parsed = loads(data) if data else {}
        except ValueError as exc:
            raise KubeError(f"{method} {path}: the API server sent no JSON") from exc
        if not isinstance(parsed, dict):
            raise KubeError(f"{method} {path}: the API server sent {type(parsed).__name__}")
        return parsed

    @asynccontextmanager
    async def open_stream(
        self, path: str, *, query: Mapping[str, str], read_timeout: float
    ) -> AsyncIterator[aiohttp.StreamReader]:
        """A long GET (a watch) whose body is read line by line by the caller."""
        timeout = aiohttp.ClientTimeout(connect=self.request_timeout, sock_read=read_timeout)
        async with self._send(
            "GET", path, query=query, request_timeout=timeout, api=self._streams
        ) as response:
            yield response.content

    async def probe(self) -> str | None:
        """Whether the API server takes a new connection and answers on it: None when it
        does, else why not. Open streams and pooled connections cannot tell (a server
        shutting down keeps serving them while it refuses new ones)."""
        try:
            async with self._send(
                "GET", "/version", request_timeout=PROBE_TIMEOUT, api=self._probes
            ):
                return None
        except KubeError as exc:
            return str(exc)

    async def resolve_kind(self, kind: str, api_version: str | None) -> KindInfo:
        """The API location of a kind: built in, or found through API discovery."""
        key = (kind, api_version)
        cached = self._kinds.get(key)
        if cached is not None:
            return cached
        info = builtin_kind(kind, api_version)
        if info is None:
            if api_version is None:
                raise NotFound(f"unknown kind {kind!r}: give its apiVersion")
            info = await self._discover(kind, api_version)
        self._kinds[key] = info
        return info

    async def _discover(self, kind: str, api_version: str) -> KindInfo:
        base = "/api/v1" if api_version == "v1" else f"/apis/{api_version}"
        listing = await self.request("GET", base)
        resources = listing.get("resources") or []
        names = {r.get("name") for r in resources if isinstance(r, dict)}
        for resource in resources:
            if not isinstance(resource, dict) or resource.get("kind") != kind:
                continue
            plural = str(resource.get("name", ""))
            if not plural or "/" in plural:
                continue
            return KindInfo(
                kind=kind,
                api_version=api_version,
                plural=plural,
                namespaced=bool(resource.get("namespaced", True)),
                scalable=f"{plural}/scale" in names,
                status=f"{plural}/status" in names,
            )
        raise NotFound(f"the API server has no kind {kind!r} in {api_version}")
