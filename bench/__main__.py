"""`python -m bench`: run every measurement, write bench/RESULTS.md and its plot, print the tables.

Loopback only, stops by itself: every wait has a limit, and the whole run is cut off before
five minutes. A measurement that fails is reported as failed and the others still run;
the exit status is 1 when a measurement failed or a count that must be exact was not
(one API request per command, no publish for an unchanged value). Targets missed are
reported, never turned into a failure: timing depends on the machine.
"""

from __future__ import annotations

import asyncio
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from bench import command, discovery, plot, scale, startup, watchrate
from bench.common import REPO, BenchError, Section, number, ratio_text

RESULTS: Final = REPO / "bench" / "RESULTS.md"
PLOT: Final = REPO / "bench" / "RESULTS.png"  # beside the report, which shows it
TOTAL_SECONDS: Final = 290.0
# Figures that are counts, not timings: missing them is a bug, not a slow machine.
EXACT: Final = ("API requests per command", "publishes when an unwatched field changes")

Measurement = Callable[[Path], Awaitable[Section]]
MEASUREMENTS: Final[list[tuple[str, Measurement]]] = [
    ("Command → API", command.run),
    ("Watch → MQTT", watchrate.run),
    ("Scale", scale.run),
    ("Start-up and idle", startup.run),
    ("Discovery", discovery.run),
]


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.partition(":")[2].strip()
            break
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    cores = len(os.sched_getaffinity(0))
    return (
        f"{cpu}, {cores} cores, Linux {platform.release()}, Python {platform.python_version()}, "
        f"commit {commit or 'unknown'}"
    )


def render(sections: list[Section], *, seconds: float) -> str:
    """The whole report as Markdown."""
    now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "# Benchmark results",
        "",
        f"Written by `make bench` on {now}, in {seconds:.0f} s: {_machine()}.",
        "",
        "Every ratio is mqtt-kube's figure divided by a baseline measured in the same run on the",
        "same machine; the raw numbers under each table only describe this machine.",
        "",
        f"![Watch throughput of each run, and start-to-ready time and RSS by size]({PLOT.name})",
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", ""]
        if section.figures:
            lines += [
                "| figure | mqtt-kube | baseline | ratio | target | met |",
                "|---|---|---|---|---|---|",
            ]
            for figure in section.figures:
                met = {True: "yes", False: "**no**", None: "-"}[figure.met]
                baseline = f"{number(figure.baseline, figure.unit)} ({figure.baseline_label})"
                lines.append(
                    f"| {figure.what} | {number(figure.value, figure.unit)} | {baseline} | "
                    f"{ratio_text(figure.ratio)} | {figure.target or '-'} | {met} |"
                )
            lines.append("")
        lines += [f"- {text}" for text in section.raw]
        lines += [f"- measured in {section.seconds:.0f} s", ""]
    return "\n".join(lines)


async def _measure(folder: Path) -> tuple[list[Section], bool]:
    sections: list[Section] = []
    failed = False
    deadline = time.monotonic() + TOTAL_SECONDS
    for title, measure in MEASUREMENTS:
        started = time.monotonic()
        print(f"measuring: {title} …", file=sys.stderr, flush=True)
        try:
            async with asyncio.timeout(max(1.0, deadline - started)):
                section = await measure(folder)
        except (BenchError, TimeoutError, OSError) as exc:
            failed = True
            reason = str(exc) or "the five-minute budget ran out"
            section = Section(title, raw=[f"**FAILED**: {reason}"])
        section.seconds = time.monotonic() - started
        sections.append(section)
        failed = failed or any(f.what.startswith(EXACT) and f.met is False for f in section.figures)
    return sections, failed


def _log_to(path: Path) -> None:
    """mqtt-kube running in this process logs as it would in production, to a file."""
    handler = logging.FileHandler(path)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)


def main() -> int:
    folder = Path(tempfile.mkdtemp(prefix="mqtt-kube-bench-"))
    _log_to(folder / "bench.log")
    started = time.monotonic()
    sections, failed = asyncio.run(_measure(folder))
    report = render(sections, seconds=time.monotonic() - started)
    RESULTS.write_text(report)
    plot.draw(sections, PLOT)
    print(report)
    if failed:
        print(f"some measurements failed; their logs are in {folder}", file=sys.stderr)
        return 1
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
