"""Who may ask the fake Kubernetes API server, and what it does to the requests a test picks.

`Tokens` is its authentication: with no token it accepts every request; once it has one,
only a request bearing a valid one, and a token can be issued with a lifetime or expired
at once (401 afterwards), as short-lived credentials are. `Faults` fails the next matching
requests with an error status; `Hangs` holds matching requests without an answer until
released, as a server that accepted a connection and then went silent.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from dataclasses import dataclass, field

from mqtt_kube.testing.fakekube_requests import RecordedRequest
from mqtt_kube.testing.fakekube_resources import StatusError


class Tokens:
    """The bearer tokens the server accepts, each until its expiry."""

    def __init__(self, token: str | None) -> None:
        self.first = token  # what write_kubeconfig puts in by default
        self._expiry: dict[str, float] = {}  # token → monotonic time it stops working
        self.refused = 0  # requests answered 401
        if token is not None:
            self._expiry[token] = float("inf")

    @property
    def enforced(self) -> bool:
        return bool(self._expiry)

    def issue(self, *, lifetime: float | None = None) -> str:
        """A new token the server accepts, for `lifetime` seconds or until expired."""
        value = f"fakekube-{secrets.token_hex(8)}"
        self._expiry[value] = float("inf") if lifetime is None else time.monotonic() + lifetime
        if self.first is None:
            self.first = value
        return value

    def expire(self, token: str) -> None:
        """Refuse `token` from now on (it stays known, so it does not switch auth off)."""
        if token not in self._expiry:
            raise ValueError(f"the fake API server never issued the token {token!r}")
        self._expiry[token] = 0.0

    def valid(self, token: str) -> bool:
        return self._expiry.get(token, 0.0) > time.monotonic()

    def check(self, authorization: str | None) -> None:
        """401 unless the `Authorization` header carries a valid token (when any is set)."""
        if not self.enforced:
            return
        scheme, _, token = (authorization or "").partition(" ")
        if scheme != "Bearer" or not self.valid(token):
            self.refused += 1
            raise StatusError.unauthorized()


@dataclass
class Fault:
    """Answer the next `remaining` matching requests with `status`."""

    remaining: int
    status: int
    method: str | None
    path_contains: str | None

    def matches(self, request: RecordedRequest) -> bool:
        return (self.method is None or self.method == request.method) and (
            self.path_contains is None or self.path_contains in request.path
        )


class Faults:
    """Injected failures, matched in the order they were added."""

    def __init__(self) -> None:
        self._faults: list[Fault] = []

    def add(
        self, count: int, *, status: int, method: str | None, path_contains: str | None
    ) -> None:
        if count < 1 or not 400 <= status <= 599:
            raise ValueError(
                f"fail_next needs count >= 1 and an error status, not {count}, {status}"
            )
        self._faults.append(Fault(count, status, method, path_contains))

    def inject(self, request: RecordedRequest) -> None:
        """Raise the StatusError of the first fault that matches `request`."""
        for fault in self._faults:
            if fault.matches(request):
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._faults.remove(fault)
                raise StatusError.for_code(fault.status)


@dataclass
class _Hold:
    method: str | None
    path_contains: str | None
    token: str | None
    released: asyncio.Event = field(default_factory=asyncio.Event)

    def matches(self, request: RecordedRequest) -> bool:
        return (
            (self.method is None or self.method == request.method)
            and (self.path_contains is None or self.path_contains in request.path)
            and (self.token is None or request.token == self.token)
        )


class Hangs:
    """Requests held without an answer until `release()`."""

    def __init__(self) -> None:
        self._holds: list[_Hold] = []
        self.held = 0  # requests waiting right now

    def add(self, *, method: str | None, path_contains: str | None, token: str | None) -> None:
        self._holds.append(_Hold(method, path_contains, token))

    def release(self) -> None:
        """Let every held request go on, and hold no more."""
        for hold in self._holds:
            hold.released.set()
        self._holds.clear()

    async def wait(self, request: RecordedRequest) -> None:
        """Return at once, or, for a held request, once released (or the client gives up)."""
        hold = next((h for h in self._holds if h.matches(request)), None)
        if hold is None:
            return
        self.held += 1
        try:
            await hold.released.wait()
        finally:
            self.held -= 1
