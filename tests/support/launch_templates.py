"""Launch templates written for a test and rendered with a binding, an action and a match, as
the bridge renders them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mqtt_kube.core.template import LaunchTemplate

OURS = {"app.kubernetes.io/managed-by": "mqtt-kube", "mqtt-kube/binding": "b0"}
BINDING = {"namespace": "demo", "resource": "Job", "name": "example-wget", "topic-prefix": "t"}
ACTION = {"topic": "example/cmd", "launch": "job.yaml"}


def template_file(tmp_path: Path, text: str, name: str = "job.yaml") -> LaunchTemplate:
    path = tmp_path / name
    path.write_text(text)
    return LaunchTemplate.load(str(path))


def render_with(
    template: LaunchTemplate, match: dict[str, object], **kwargs: Any
) -> dict[str, Any]:
    options: dict[str, Any] = {"namespace": "demo", "labels": OURS, "uid": "0a1b2c3d"}
    options.update(kwargs)
    return template.render(binding=BINDING, action=ACTION, match=match, **options)
