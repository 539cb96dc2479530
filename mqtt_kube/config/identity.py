"""The instance's MQTT client-id when the file gives none, and when to warn about it.

Home Assistant's device and entity ids, the leader-election Lease (and the RBAC that names
it) and the broker's session all hang on the client-id, so its default must come out the
same wherever and however often the file is run: never the host name, which changes with
every re-created container or pod. It is `mqtt-kube`, or, with a `topic-prefix`,
`mqtt-kube-<prefix>`: the prefix is what already keeps two instances' topics apart on one
broker, it does not change when bindings are edited, and `mqtt-kube rbac` on a laptop
computes the same Lease name as the pod. A prefix written with characters other than
letters, digits, `-` and `_` (such as `/`) gets those replaced and a short hash of the
prefix added, so that `home/kube` and `home-kube` stay two ids.
"""

from __future__ import annotations

import hashlib
import re
from typing import Final

from mqtt_kube.config.model import Config
from mqtt_kube.core.errors import ConfigProblem

DEFAULT_CLIENT_ID: Final = "mqtt-kube"
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]+")


def default_client_id(topic_prefix: str | None) -> str:
    """The client-id of a file without one: fixed, or made from its topic prefix."""
    if not topic_prefix:
        return DEFAULT_CLIENT_ID
    safe = _UNSAFE.sub("-", topic_prefix).strip("-")
    if safe == topic_prefix:
        return f"{DEFAULT_CLIENT_ID}-{safe}"
    digest = hashlib.sha256(topic_prefix.encode()).hexdigest()[:6]
    return f"{DEFAULT_CLIENT_ID}-{safe}-{digest}" if safe else f"{DEFAULT_CLIENT_ID}-{digest}"


def client_id_warning(config: Config, *, leader_elect: bool) -> str | None:
    """A warning when the client-id is defaulted and ids that must last are named after it."""
    mqtt = config.mqtt
    if not mqtt.client_id_defaulted:
        return None
    named = []
    if config.homeassistant is not None:
        named.append("Home Assistant's device and entity ids")
    if leader_elect:
        named.append("the leader-election Lease")
    if not named:
        return None
    if mqtt.topic_prefix:
        origin = "made from mqtt.topic-prefix"
        advice = (
            "write it into the file to keep them if the prefix changes; a second instance on "
            "this broker needs another topic-prefix or a client-id of its own"
        )
    else:
        origin = "the fixed default"
        advice = (
            "write one into the file, since two instances without topic-prefix and client-id "
            "cannot be told apart (on one broker they take over each other's session and "
            "entities, in one namespace they share one Lease)"
        )
    verb = "is" if len(named) == 1 and leader_elect else "are"
    message = (
        f"not set, so it is {mqtt.client_id!r} ({origin}); {' and '.join(named)} {verb} "
        f"named after it; {advice}"
    )
    return str(ConfigProblem("mqtt.client-id", message, source=config.source))
