"""The report's picture: the watch throughput runs and the scale curve, as one small PNG.

Drawn with matplotlib (the `bench` extra; `make bench` installs it) from the numbers the
sections keep in `Section.series`, on the Agg backend (no display needed). A section that
failed has no series, and its panel says so instead of a curve.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from bench.common import Section

WATCH_PREFIXES: Final = ("mqtt-kube, ", "bare consumer, ")
SCOPES: Final = ("cluster", "namespace")


def draw(sections: list[Section], path: Path) -> None:
    """Write the PNG at `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    series: dict[str, list[float]] = {}
    for section in sections:
        series.update(section.series)
    figure, (watch, scale) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=100)
    _watch_panel(watch, series)
    _scale_panel(scale, series)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def _watch_panel(axes: Any, series: dict[str, list[float]]) -> None:
    axes.set_title("Watch → MQTT, each run", fontsize=10)
    runs = {name: values for name, values in series.items() if name.startswith(WATCH_PREFIXES)}
    if not runs:
        axes.text(0.5, 0.5, "no watch figures", ha="center", transform=axes.transAxes)
        return
    for name, values in runs.items():
        style = "-o" if name.startswith("mqtt-kube") else "--s"
        numbers = range(1, len(values) + 1)
        axes.plot(numbers, [v / 1000 for v in values], style, markersize=4, label=name)
    axes.set_xlabel("run")
    axes.set_ylabel("thousand events/s")
    axes.set_ylim(bottom=0)
    axes.legend(fontsize=6, loc="lower right")


def _scale_panel(axes: Any, series: dict[str, list[float]]) -> None:
    axes.set_title("Scale: start to ready and RSS", fontsize=10)
    scopes = [scope for scope in SCOPES if f"bindings, {scope}-wide" in series]
    if not scopes:
        axes.text(0.5, 0.5, "no scale figures", ha="center", transform=axes.transAxes)
        return
    memory = axes.twinx()
    for scope in scopes:
        bindings = series[f"bindings, {scope}-wide"]
        axes.plot(bindings, series[f"ready seconds, {scope}-wide"], "-o", label=f"ready, {scope}")
        memory.plot(bindings, series[f"RSS MiB, {scope}-wide"], ":^", label=f"RSS, {scope}")
    axes.set_xscale("log")
    axes.set_xlabel("bindings")
    axes.set_ylabel("seconds to ready")
    memory.set_ylabel("MiB resident")
    axes.set_ylim(bottom=0)
    memory.set_ylim(bottom=0)
    lines = axes.get_legend_handles_labels()
    more = memory.get_legend_handles_labels()
    axes.legend(lines[0] + more[0], lines[1] + more[1], fontsize=6, loc="upper left")
