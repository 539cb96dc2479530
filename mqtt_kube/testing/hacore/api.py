"""What a running Home Assistant shows, read through its own REST and websocket APIs.

Tests judge Home Assistant by what it says here (states, the entity and device
registries, service calls), never by what a broker subscriber sees.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Any, Self, cast

import aiohttp

JsonObject = dict[str, Any]


class HaApiError(RuntimeError):
    """Home Assistant answered a request with an error; the message names the request."""


class HaApi:
    """An authenticated client of one Home Assistant; `async with HaApi(url, token) as ha:`."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}"}
        self._token = token
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(headers=self._headers)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("HaApi is used outside `async with`")
        return self._session

    # -- REST --------------------------------------------------------------------------

    async def get(self, path: str) -> Any:
        async with self.session.get(self.base_url + path) as response:
            return await _answer(response, f"GET {path}")

    async def post(self, path: str, body: JsonObject | None = None) -> Any:
        async with self.session.post(self.base_url + path, json=body or {}) as response:
            return await _answer(response, f"POST {path}")

    async def states(self) -> dict[str, JsonObject]:
        """entity_id → state object, for every entity Home Assistant has a state of."""
        found = cast(list[JsonObject], await self.get("/api/states"))
        return {state["entity_id"]: state for state in found}

    async def state(self, entity_id: str) -> str | None:
        """The state of one entity ("on", "unavailable", …); None when it has none."""
        found = (await self.states()).get(entity_id)
        return None if found is None else str(found["state"])

    async def call_service(self, domain: str, service: str, **data: Any) -> None:
        await self.post(f"/api/services/{domain}/{service}", data)

    async def wait_for(
        self,
        check: Callable[[HaApi], Any],
        *,
        what: str,
        seconds: float = 30.0,
    ) -> Any:
        """Ask Home Assistant until `await check(self)` is truthy; that value.

        Fails after `seconds` with the last value seen: a deadline for a broken test, not
        a pace any passing test depends on.
        """
        last: Any = None
        try:
            async with asyncio.timeout(seconds):
                while True:
                    last = await check(self)
                    if last:
                        return last
                    await asyncio.sleep(0.1)
        except TimeoutError:
            raise AssertionError(f"Home Assistant: {what}; last seen: {last!r}") from None

    async def wait_for_state(self, entity_id: str, wanted: str, *, seconds: float = 30.0) -> None:
        """Until Home Assistant shows `entity_id` in state `wanted`; fails with the last state."""
        seen: list[str | None] = []

        async def reached(api: HaApi) -> bool:
            seen.append(await api.state(entity_id))
            return seen[-1] == wanted

        try:
            await self.wait_for(reached, what=f"{entity_id} is not {wanted!r}", seconds=seconds)
        except AssertionError:
            last = seen[-1] if seen else "nothing"
            raise AssertionError(
                f"Home Assistant: {entity_id} is not {wanted!r} after {seconds:g} s; "
                f"its state is {last!r}"
            ) from None

    # -- websocket ---------------------------------------------------------------------

    async def ws(self, message: JsonObject) -> Any:
        """Send one websocket command on its own connection; its result."""
        url = self.base_url.replace("http", "ws", 1) + "/api/websocket"
        async with aiohttp.ClientSession() as session, session.ws_connect(url) as socket:
            hello = await socket.receive_json()
            if hello.get("type") != "auth_required":
                raise HaApiError(f"websocket {url}: unexpected greeting {hello!r}")
            await socket.send_json({"type": "auth", "access_token": self._token})
            auth = await socket.receive_json()
            if auth.get("type") != "auth_ok":
                raise HaApiError(f"websocket {url}: authentication refused: {auth!r}")
            await socket.send_json({"id": 1, **message})
            while True:
                answer = await socket.receive_json()
                if answer.get("id") == 1 and answer.get("type") == "result":
                    break
        if not answer.get("success"):
            raise HaApiError(f"websocket {message.get('type')}: {answer.get('error')!r}")
        return answer.get("result")

    async def entity_registry(self) -> list[JsonObject]:
        return cast(list[JsonObject], await self.ws({"type": "config/entity_registry/list"}))

    async def device_registry(self) -> list[JsonObject]:
        return cast(list[JsonObject], await self.ws({"type": "config/device_registry/list"}))

    async def entity_ids(self, unique_ids: list[str]) -> dict[str, str]:
        """unique_id → entity_id of the MQTT entities registered with these unique_ids."""
        wanted = set(unique_ids)
        return {
            entry["unique_id"]: entry["entity_id"]
            for entry in await self.entity_registry()
            if entry.get("platform") == "mqtt" and entry.get("unique_id") in wanted
        }


async def _answer(response: aiohttp.ClientResponse, what: str) -> Any:
    if response.status >= 400:
        text = await response.text()
        raise HaApiError(f"{what}: HTTP {response.status}: {text[:500]}")
    if response.content_type == "application/json":
        return await response.json()
    return await response.text()
