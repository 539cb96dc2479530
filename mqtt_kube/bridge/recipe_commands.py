"""A recipe's command at run time: one payload, one request computed from it and the object.

`mqtt_kube.kube.recipe_requests` says what each operation sends; this runs it for one
binding with the binding's own handling: the payload mapped by the command's map,
transient failures retried, errors logged and kept under the command's topic. A guarded
request (power, computed from the watched copy and carrying its resourceVersion) that the
API server refuses because the object changed meanwhile is computed once more from the
next copy the watch brings. A Job created by `run` whose answer was lost, found to exist
on the retry, counts as created.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from mqtt_kube.bridge.binding import Binding
from mqtt_kube.config.model import CommandSpec
from mqtt_kube.core.errors import Conflict, KubeError
from mqtt_kube.core.valuemap import Match
from mqtt_kube.kube.client import JsonObject
from mqtt_kube.kube.recipe_requests import (
    NotSeen,
    RecipeRequest,
    command_request,
    send_recipe_request,
)

logger = logging.getLogger(__name__)


async def run_command(binding: Binding, command: CommandSpec, text: str) -> None:
    """Handle one payload received on a recipe command's topic."""
    topic = command.topic
    match = binding.map_payload(command.values, text, topic=topic, where=command.where)
    if match is None:
        return
    attempts = 0

    async def send() -> None:
        nonlocal attempts
        attempts += 1
        try:
            await _send(binding, command, match)
        except Conflict:
            if attempts < 2 or command.operation != "run":
                raise
            # "Already exists" on a retry: the attempt whose answer was lost went through.

    try:
        await binding.retrying(send, topic=topic)
    except KubeError as exc:
        binding.api_failed(exc, topic=topic)
        return
    except NotSeen as exc:
        binding.fail(f"command on {topic}: {exc}", topic=topic)
        return
    if command.operation == "run":
        binding.counters.launches += 1
    else:
        binding.counters.patches += 1
    binding.clear_error(topic)
    logger.info("%s: %s %s (from %s)", binding.spec.label, command.operation, match.output, topic)


async def _send(binding: Binding, command: CommandSpec, match: Match) -> None:
    kind = await binding.resolve()

    def build(seen: JsonObject | None) -> RecipeRequest:
        return command_request(
            command.operation,
            str(match.output),
            kind=kind,
            namespace=binding.namespace,
            name=binding.spec.name,
            seen=seen,
            now=datetime.now(UTC),
        )

    # A guarded request carries the watched resourceVersion: 409 once the object changed.
    await binding.send_guarded(build, lambda r: send_recipe_request(binding.client, r), Conflict)
