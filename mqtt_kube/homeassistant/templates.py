"""The Jinja value templates in discovery payloads, and how an absent value is shown.

An empty payload means "no value": the object does not exist, or the locus matched
nothing. The text "None" is Home Assistant's "no value" for a binary_sensor, a switch, a
number and a sensor that expects numbers or times; a plain text sensor stores it as the
word "None" before Home Assistant 2024.10, so such a sensor renders "unknown" instead:
the very state Home Assistant records for an entity without a value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Final

from mqtt_kube.core.hass_facts import MAX_STATE_LENGTH, NUMERIC_HINTS

NO_VALUE: Final = "None"
NO_TEXT: Final = "unknown"
STATE_TEMPLATE: Final = f"{{{{ value if value else '{NO_VALUE}' }}}}"
# A raw watch may carry a JSON object (`$.status`): its fields become attributes.
ATTRIBUTES_TEMPLATE: Final = (
    "{{ (value_json if value_json is defined and value_json is mapping else {}) | to_json }}"
)
_JINJA_ESCAPES: Final = {
    **{code: f"\\x{code:02x}" for code in range(32)},
    ord("\\"): "\\\\",
    ord("'"): "\\'",
    ord("{"): "\\u007b",
    ord("}"): "\\u007d",
}


def one_of_template(states: Iterable[str]) -> str:
    """A value_template passing `states` through and turning anything else into no value.

    A map that does not cover every input lets the raw value through ("2" where only 1 is
    mapped); Home Assistant would ignore it and keep showing the previous state.
    """
    choices = ", ".join(_jinja_text(state) for state in states)
    return f"{{{{ value if value in [{choices}] else '{NO_VALUE}' }}}}"


def sensor_template(payload: Mapping[str, Any]) -> str:
    """A sensor's value_template: the state cut to size; no value as the sensor needs it."""
    typed = "device_class" in payload or any(key in payload for key in NUMERIC_HINTS)
    absent = NO_VALUE if typed else NO_TEXT
    return f"{{{{ value[:{MAX_STATE_LENGTH}] if value else '{absent}' }}}}"


def _jinja_text(text: str) -> str:
    """`text` as a quoted Jinja string; braces escaped too, so no `}}` ends the template."""
    return "'" + text.translate(_JINJA_ESCAPES) + "'"
