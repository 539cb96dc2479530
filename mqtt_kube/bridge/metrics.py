"""Counters for /metrics, rendered in the Prometheus text format."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields

Sample = tuple[str, str, float]  # (name without prefix, help text, value)


@dataclass
class CommandCounters:
    """What became of the commands received on patch and action topics."""

    patches: int = 0
    launches: int = 0
    deletes: int = 0
    ignored: int = 0  # mapped to nothing, retained and ignored, or coalesced away
    failed: int = 0  # bad payload, template refused, or the API said no

    def samples(self) -> list[Sample]:
        return [
            (f"commands_{item.name}", f"Commands: {item.name}", float(getattr(self, item.name)))
            for item in fields(self)
        ]


def render_metrics(*, counters: Iterable[Sample], gauges: Iterable[Sample]) -> str:
    """Prometheus text exposition of `mqtt_kube_<name>_total` counters and gauges."""
    lines: list[str] = []
    for suffix, kind, samples in (("_total", "counter", counters), ("", "gauge", gauges)):
        for name, help_text, value in samples:
            full = f"mqtt_kube_{name}{suffix}"
            lines += [f"# HELP {full} {help_text}", f"# TYPE {full} {kind}"]
            lines.append(f"{full} {_number(value)}")
    return "\n".join(lines) + "\n"


def _number(value: float) -> str:
    """A whole number as an integer (never `1.23457e+06`), any other at full precision."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))
