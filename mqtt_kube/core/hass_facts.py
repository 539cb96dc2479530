"""What Home Assistant accepts in a discovery payload, and which overrides it would refuse.

Data and one rule, no I/O. The configuration checks a binding's `homeassistant:` overrides
against it before anything starts (`mqtt_kube.config`), and the discovery plan checks them
again against the component it inferred (`mqtt_kube.homeassistant`): both ask
`override_problems`, so whether an override is valid is decided here only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final, Literal

Component = Literal["switch", "number", "binary_sensor", "sensor", "button"]
COMPONENTS: Final[tuple[Component, ...]] = (
    "switch",
    "sensor",
    "binary_sensor",
    "button",
    "number",
)
READ_ONLY: Final = frozenset({"sensor", "binary_sensor"})

NUMBER_MIN: Final = 0
NUMBER_MAX: Final = 100  # Home Assistant's own default for a number
MAX_STATE_LENGTH: Final = 255  # Home Assistant refuses longer states

# Keys Home Assistant 2024.3 accepts in `device` and `origin`; anything else is refused.
# (`serial_number` has been accepted since 2024.2, `model_id` only in later releases; we
# send neither.)
DEVICE_KEYS: Final = frozenset(
    {
        "identifiers",
        "connections",
        "manufacturer",
        "model",
        "name",
        "serial_number",
        "sw_version",
        "hw_version",
        "suggested_area",
        "via_device",
        "configuration_url",
    }
)
ORIGIN_KEYS: Final = frozenset({"name", "sw_version", "support_url"})

# Device classes by component, as Home Assistant lists them (sensor/const.py,
# number/const.py, binary_sensor, switch and button). An unknown one makes Home Assistant
# refuse the whole announcement. `enum` needs a list of options, which is not announced.
NUMERIC_CLASSES: Final = frozenset(
    """apparent_power aqi area atmospheric_pressure battery blood_glucose_concentration
    carbon_dioxide carbon_monoxide conductivity current data_rate data_size distance duration
    energy energy_distance energy_storage frequency gas humidity illuminance irradiance
    moisture monetary nitrogen_dioxide nitrogen_monoxide nitrous_oxide ozone ph pm1 pm10 pm25
    power power_factor precipitation precipitation_intensity pressure reactive_power
    signal_strength sound_pressure speed sulphur_dioxide temperature
    volatile_organic_compounds volatile_organic_compounds_parts voltage volume
    volume_flow_rate volume_storage water weight wind_direction wind_speed""".split()  # noqa: SIM905
)
TIME_CLASSES: Final = frozenset({"timestamp", "date"})  # a sensor of one shows a time
DEVICE_CLASSES: Final[Mapping[str, frozenset[str]]] = {
    "sensor": NUMERIC_CLASSES | TIME_CLASSES,
    "number": NUMERIC_CLASSES,
    "binary_sensor": frozenset(
        """battery battery_charging carbon_monoxide cold connectivity door garage_door gas
        heat light lock moisture motion moving occupancy opening plug power presence problem
        running safety smoke sound tamper update vibration window""".split()  # noqa: SIM905
    ),
    "switch": frozenset({"outlet", "switch"}),
    "button": frozenset({"identify", "restart", "update"}),
}
ALL_DEVICE_CLASSES: Final = tuple(sorted(set().union(*DEVICE_CLASSES.values())))
UNANNOUNCEABLE_CLASSES: Final = frozenset({"enum"})
# Overrides that make Home Assistant expect a number from a sensor (besides a numeric
# device class); it then refuses every state that is not one.
NUMERIC_HINTS: Final = ("unit_of_measurement", "state_class")

# Per-binding overrides that reach the main entity, by component. `entity_category:
# config` is refused by Home Assistant for read-only entities, so those get diagnostic.
_COMMON_OVERRIDES: Final = frozenset({"icon", "device_class", "enabled_by_default"})
OVERRIDE_KEYS: Final[Mapping[str, frozenset[str]]] = {
    "switch": _COMMON_OVERRIDES | {"entity_category"},
    "button": _COMMON_OVERRIDES | {"entity_category"},
    "number": _COMMON_OVERRIDES
    | {"entity_category", "unit_of_measurement", "min", "max", "step", "mode"},
    "binary_sensor": _COMMON_OVERRIDES | {"entity_category"},
    "sensor": _COMMON_OVERRIDES | {"entity_category", "unit_of_measurement", "state_class"},
}
NOT_ENTITY_KEYS: Final = frozenset({"component", "name"})  # about the device, not the entity


@dataclass(frozen=True)
class OverrideProblem:
    """An override Home Assistant would refuse, and what to announce instead.

    `replacement` None: leave the key out; otherwise announce that value (a refusal with a
    sure fix, which the configuration therefore accepts).
    """

    key: str
    message: str
    replacement: str | None = None


def override_problems(
    overrides: Mapping[str, object],
    *,
    component: str | None,
    text_output: str | None = None,
) -> list[OverrideProblem]:
    """Overrides that Home Assistant would refuse on a `component` (None: on any).

    `text_output` is a text the sensor's value map publishes: Home Assistant then refuses
    overrides that make it expect numbers.
    """
    problems: list[OverrideProblem] = []
    device_class = overrides.get("device_class")
    if component is not None:
        allowed = OVERRIDE_KEYS[component]
        for key in sorted(overrides.keys() - allowed - NOT_ENTITY_KEYS):
            problems.append(OverrideProblem(key, f"has no effect on a {component}"))
        if device_class is not None and device_class not in DEVICE_CLASSES[component]:
            fits = [name for name, classes in DEVICE_CLASSES.items() if device_class in classes]
            problems.append(
                OverrideProblem(
                    "device_class",
                    f"{device_class!r} is a device class of a {' or '.join(fits)}, "
                    f"not of a {component}",
                )
            )
        if overrides.get("entity_category") == "config" and component in READ_ONLY:
            problems.append(
                OverrideProblem(
                    "entity_category",
                    f"Home Assistant refuses 'config' for a {component}",
                    replacement="diagnostic",
                )
            )
    if text_output is not None:
        for key in sorted(overrides):
            if _expects_numbers(key, overrides[key]):
                problems.append(
                    OverrideProblem(
                        key,
                        "makes Home Assistant expect numbers, but this sensor's map publishes "
                        f"text such as {text_output!r}",
                    )
                )
    if device_class in TIME_CLASSES:
        for key in NUMERIC_HINTS:
            if key in overrides:
                problems.append(
                    OverrideProblem(
                        key,
                        f"makes Home Assistant expect numbers, but device_class {device_class} "
                        "says the sensor shows a time; give one or the other",
                    )
                )
    low, high = overrides.get("min", NUMBER_MIN), overrides.get("max", NUMBER_MAX)
    if isinstance(low, int) and isinstance(high, int) and low >= high:
        problems.append(
            OverrideProblem(
                "max" if "max" in overrides else "min",
                f"max must be greater than min, here {high} and {low} "
                f"(without them: max {NUMBER_MAX}, min {NUMBER_MIN})",
            )
        )
    return problems


def _expects_numbers(key: str, value: object) -> bool:
    """Whether an override makes Home Assistant expect a sensor's states to be numbers."""
    return key in NUMERIC_HINTS or (key == "device_class" and value in NUMERIC_CLASSES)
