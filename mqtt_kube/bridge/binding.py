"""One configured binding at run time: its object's fields out, its commands in.

Watches turn the object's body into payloads on the state board (synchronously, from the
shared watch), and the binding keeps the last body it was given (`seen`): what it knows of
its object without asking the API server, for commands that need more than the locus. Patch
and action handlers turn command payloads into exactly the API requests the value maps
name. Whatever goes wrong — a bad payload, a refused template, a missing object, an API
error — is logged with the binding's name and the topic, counted, and kept for /api/status
under where it came from (the watch, each topic) until that place works again, so one
error never hides another; it never stops another binding. A command whose request got no
answer, a 429 or a 5xx is retried with backoff for up to `COMMAND_RETRY_SECONDS`, so an
API server restart or a dropped connection does not lose it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, TypeVar

from mqtt_kube.bridge.expression_log import ExpressionLog
from mqtt_kube.bridge.metrics import CommandCounters
from mqtt_kube.bridge.stateboard import StateBoard
from mqtt_kube.config.model import ActionSpec, BindingSpec, PatchSpec, WatchSpec
from mqtt_kube.core.backoff import Backoff
from mqtt_kube.core.errors import (
    Conflict,
    Invalid,
    KubeError,
    NotFound,
    TemplateError,
    ValueMapError,
    WrongScope,
)
from mqtt_kube.core.kinds import KindInfo
from mqtt_kube.core.payload import decode_scalar, encode_payload
from mqtt_kube.core.valuemap import Match, ValueMap
from mqtt_kube.kube.actions import create_object, delete_labelled, delete_object, launch_labels
from mqtt_kube.kube.client import JsonObject, KubeClient
from mqtt_kube.kube.patch import GuardedRequest, PatchRequest, patch_request, send_patch

logger = logging.getLogger(__name__)

COMMAND_RETRY_SECONDS: Final = 30.0  # how long one command keeps retrying transient failures
SEEN_WAIT_SECONDS: Final = 5.0  # for a newer copy of the object after a guarded patch failed
WATCH_ERROR: Final = "watch"  # where the shared watch's errors are kept
KIND_ERROR: Final = "kind"  # where a binding's wrong scope is kept
_Result = TypeVar("_Result")


_Guarded = TypeVar("_Guarded", bound=GuardedRequest)


class Binding:
    """The runtime of one `bindings[i]` entry."""

    def __init__(
        self,
        spec: BindingSpec,
        *,
        client: KubeClient,
        board: StateBoard,
        counters: CommandCounters,
    ) -> None:
        self.spec = spec
        self.client = client
        self._board = board
        self.counters = counters
        self.kind: KindInfo | None = None  # resolved before the watch starts
        self.labels = launch_labels(spec.kind, spec.name)
        # Watches run on every change of the object: decide once which need no mapping,
        # and take the function that reads the field of each of those.
        self._watches = tuple(
            (watch, watch.locus.reader() if _is_plain(watch.values) else None)
            for watch in spec.watch
        )
        # (apiVersion, kind, namespace) of what `launch` created, for `delete` to clean up
        self._launched: dict[tuple[str, str, str | None], KindInfo] = {}
        self.exists: bool | None = None  # unknown until the first list
        self._expressions = ExpressionLog(spec.label)
        self.seen: JsonObject | None = None  # the object as last watched (None: not known)
        self._seen_waiter: asyncio.Future[None] | None = None
        self.errors: dict[str, str] = {}  # where it failed (watch, a topic) → the error now
        self.watch_value_errors = 0  # watched values their value map could not take

    @property
    def namespace(self) -> str | None:
        return self.spec.namespace

    async def resolve(self) -> KindInfo:
        """The binding's kind, from the built-in table or API discovery (cached)."""
        if self.kind is None:
            self.adopt(await self.client.resolve_kind(self.spec.kind, self.spec.api_version))
        assert self.kind is not None  # set by adopt()
        return self.kind

    def adopt(self, kind: KindInfo) -> None:
        """Take `kind` as the binding's; WrongScope when discovery says it is namespaced and
        the binding has no namespace (it would never match an event, and would patch a
        path that is not there)."""
        if kind.namespaced and self.namespace is None:
            raise WrongScope(
                f"{kind.kind} ({kind.api_version}) is namespaced, says API discovery: "
                f"give {self.spec.where} a namespace"
            )
        self.kind = kind

    def take_over(self, old: Binding) -> bool:
        """Continue from `old`, the same object's binding in the file before a reload: what
        it knew of the object and what it launched. True when it knew the object (its
        payloads are then computed from that copy, no list needed)."""
        self.kind = old.kind
        self._launched = dict(old._launched)
        self.errors = {k: e for k, e in old.errors.items() if k in (WATCH_ERROR, KIND_ERROR)}
        if old.exists is None:
            return False
        self.on_object(old.seen)
        return True

    @property
    def last_error(self) -> str | None:
        """The most recent of the current errors."""
        return next(reversed(self.errors.values()), None)

    def set_error(self, where: str, message: str) -> None:
        self.errors.pop(where, None)
        self.errors[where] = message  # last in the dict: the most recent

    def clear_error(self, where: str) -> None:
        self.errors.pop(where, None)

    def status(self) -> dict[str, Any]:
        """What /api/status shows for this binding."""
        return {
            "binding": self.spec.label,
            "where": self.spec.where,
            "exists": self.exists,
            "last_error": self.last_error,
            "errors": dict(self.errors),
        }

    # -- object → MQTT -------------------------------------------------------------

    def on_object(self, body: JsonObject | None) -> None:
        """The object changed (None: it does not exist); publish every watch's payload."""
        self.exists = body is not None
        self.seen = body
        waiter = self._seen_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)
        board = self._board
        for watch, read in self._watches:
            if body is None:
                payload: str | None = ""
            elif read is not None:
                payload = encode_payload(read(body))  # what no map would give
            else:
                payload = self._mapped_payload(watch, body)
            if payload is not None:
                board.set(watch.topic, payload, qos=watch.qos, retain=watch.retain)

    def _mapped_payload(self, watch: WatchSpec, body: JsonObject) -> str | None:
        value = watch.locus.read(body)
        try:
            match = watch.values.match(
                value, on_predicate_error=self._expressions.reporter(watch.where, watch.topic)
            )
        except ValueMapError as exc:
            self.watch_value_errors += 1
            message = f"watch {watch.locus.expression} → {watch.topic}: {exc}"
            self.set_error(watch.topic, message)
            logger.warning("%s: %s", self.spec.label, message)
            return None
        self.clear_error(watch.topic)
        return encode_payload(value if match is None else match.output)

    # -- MQTT → object ---------------------------------------------------------------

    async def apply_patch(self, patch: PatchSpec, text: str) -> None:
        """Handle one payload received on a patch topic."""
        match = self.map_payload(patch.values, text, topic=patch.topic, where=patch.where)
        if match is None:
            return
        value = match.output
        if isinstance(value, str) and _is_plain(patch.values):
            value = decode_scalar(value)

        async def send() -> None:
            kind = await self.resolve()

            def build(seen: JsonObject | None) -> PatchRequest:
                return patch_request(
                    kind=kind,
                    namespace=self.namespace,
                    name=self.spec.name,
                    locus=patch.locus,
                    value=value,
                    seen=seen,
                )

            # A guarded JSON patch's `test` fails (422) once the object has changed.
            await self.send_guarded(build, lambda r: send_patch(self.client, r), Invalid)

        try:
            await self.retrying(send, topic=patch.topic)
        except KubeError as exc:
            self._patch_failed(exc, patch)
            return
        self.counters.patches += 1
        self.clear_error(patch.topic)
        logger.info(
            "%s: %s set to %s (from %s)",
            self.spec.label,
            patch.locus.expression,
            json.dumps(value, ensure_ascii=False, default=str),
            patch.topic,
        )

    async def send_guarded(
        self,
        build: Callable[[JsonObject | None], _Guarded],
        send: Callable[[_Guarded], Awaitable[object]],
        refused: type[KubeError],
    ) -> None:
        """Send what `build` makes of the watched copy; a guarded one `refused` as the object
        changed is built again from the newer copy, once, when the watch brings one."""
        seen = self.seen
        request = build(seen)
        try:
            await send(request)
        except refused:
            if not request.guarded or not await self.seen_since(seen):
                raise
            await send(build(self.seen))

    async def seen_since(self, before: JsonObject | None) -> bool:
        """Wait (a little) for the watch to bring a copy of the object newer than `before`."""
        if self.seen is not before:
            return True
        waiter = self._seen_waiter
        if waiter is None or waiter.done():
            waiter = self._seen_waiter = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(SEEN_WAIT_SECONDS):
                await asyncio.shield(waiter)
        except TimeoutError:
            return False
        return self.seen is not before

    def _patch_failed(self, exc: KubeError, patch: PatchSpec) -> None:
        if exc.unknown_fields:
            kind = self.kind.kind if self.kind is not None else self.spec.kind
            fields = ", ".join(exc.unknown_fields)
            self.fail(
                f"command on {patch.topic}: {kind} has no field {fields} (locus "
                f"{patch.locus.expression}); the API refused the patch, nothing changed",
                topic=patch.topic,
            )
        else:
            self.api_failed(exc, topic=patch.topic)

    async def run_action(self, action: ActionSpec, text: str) -> None:
        """Handle one payload received on an action topic."""
        match = self.map_payload(action.values, text, topic=action.topic, where=action.where)
        if match is None:
            return
        # Without a map every payload launches (the one button discovery announces for it).
        verb = match.output if action.values.has_map else "launch"
        try:
            if verb == "launch":
                await self._launch(action, match)
            elif verb == "delete":
                await self.retrying(self._delete, topic=action.topic)
            else:
                self.fail(
                    f"payload on {action.topic} maps to {verb!r}, not launch or delete",
                    topic=action.topic,
                )
                return
        except KubeError as exc:
            self.api_failed(exc, topic=action.topic)
            return
        except TemplateError as exc:
            where = f"template {action.launch.path}: " if action.launch else ""
            self.fail(f"{where}{exc}", topic=action.topic)
            return
        self.clear_error(action.topic)

    async def _launch(self, action: ActionSpec, match: Match) -> None:
        if action.launch is None:
            raise TemplateError("launch asked, but no template is configured")
        body = action.launch.render(
            binding=self.spec.raw,
            action=action.raw,
            match=match.context,
            namespace=self.namespace,
            labels=self.labels,
        )
        kind = await self.retrying(
            lambda: self.client.resolve_kind(str(body["kind"]), str(body["apiVersion"])),
            topic=action.topic,
        )
        namespace = None
        if kind.namespaced:
            namespace = body.get("metadata", {}).get("namespace") or self.namespace or "default"
        self._launched[(kind.api_version, kind.kind, namespace)] = kind
        attempts = 0

        def create() -> Awaitable[JsonObject]:
            nonlocal attempts
            attempts += 1
            return create_object(self.client, kind=kind, namespace=namespace, body=body)

        try:
            created = await self.retrying(create, topic=action.topic)
        except Conflict:
            if attempts < 2:
                raise
            # "Already exists" on a retry: the attempt that timed out did reach the server.
            created = body
        self.counters.launches += 1
        name = created.get("metadata", {}).get("name", "?")
        logger.info("%s: launched %s %s/%s", self.spec.label, kind.kind, namespace, name)

    async def _delete(self) -> None:
        kind = await self.resolve()
        deleted = await delete_object(
            self.client, kind=kind, namespace=self.namespace, name=self.spec.name
        )
        targets = {(kind.api_version, kind.kind, self.namespace): kind, **self._launched}
        for (_, _, namespace), launched in targets.items():
            if launched.namespaced and namespace is None:
                continue  # a namespaced kind has no collection across all namespaces to delete
            await delete_labelled(
                self.client, kind=launched, namespace=namespace, labels=self.labels
            )
        self.counters.deletes += 1
        logger.info(
            "%s: deleted%s, with everything it launched",
            self.spec.label,
            "" if deleted else " (the object itself was already gone)",
        )

    # -- shared ------------------------------------------------------------------------

    async def retrying(self, send: Callable[[], Awaitable[_Result]], *, topic: str) -> _Result:
        """`send()`, again with backoff while it fails transiently, for a bounded time."""
        backoff = Backoff(initial=0.2, maximum=5.0)
        deadline = time.monotonic() + COMMAND_RETRY_SECONDS
        while True:
            try:
                return await send()
            except KubeError as exc:
                delay = backoff.next_delay()
                if not _transient(exc) or time.monotonic() + delay > deadline:
                    raise
                logger.warning(
                    "%s: command on %s: %s; retrying in %.1f s", self.spec.label, topic, exc, delay
                )
            await asyncio.sleep(delay)

    def map_payload(self, values: ValueMap, text: str, *, topic: str, where: str) -> Match | None:
        try:
            match = values.match(text, on_predicate_error=self._expressions.reporter(where, topic))
        except ValueMapError as exc:
            self.fail(f"payload on {topic}: {exc}", topic=topic)
            return None
        if match is None:
            self.counters.ignored += 1
            logger.info(
                "%s: payload %r on %s maps to nothing; ignored", self.spec.label, text[:100], topic
            )
        return match

    def api_failed(self, exc: KubeError, *, topic: str) -> None:
        if isinstance(exc, NotFound):
            self.fail(f"command on {topic}: the object does not exist ({exc})", topic=topic)
        else:
            self.fail(f"command on {topic}: {exc}", topic=topic)

    def fail(self, message: str, *, topic: str) -> None:
        self.counters.failed += 1
        self.set_error(topic, message)
        logger.warning("%s: %s", self.spec.label, message)


def _transient(exc: KubeError) -> bool:
    """No answer (connection, timeout), 429 or a 5xx: the same request may well succeed later."""
    return type(exc) is KubeError and (exc.status in (0, 429) or exc.status >= 500)


def _is_plain(values: ValueMap) -> bool:
    """No map, transform or jsonpath: the payload itself is the value (a JSON scalar or text)."""
    return not values.has_map and values.transform_source is None and values.jsonpath is None
