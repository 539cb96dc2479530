"""The one request of each recipe command, computed from the payload, the copy and the clock.

Covered: `power` OFF records the count and guards with the copy's resourceVersion, OFF at 0
leaves the recorded count alone, ON restores it, falls back to 1 for a missing or bad one,
and keeps the count of an object already up; `restart` stamps RFC 3339 in UTC; `run`
names the Job `<cronjob>-manual-<seconds>` within 63 characters and needs a watched copy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from mqtt_kube.core.kinds import BUILTIN_KINDS
from mqtt_kube.kube.recipe_requests import (
    REPLICAS_ANNOTATION,
    RESTARTED_AT,
    NotSeen,
    command_request,
    manual_job_name,
    power_patch,
)

NOW = datetime(2026, 3, 1, 18, 4, 5, tzinfo=UTC)


def copy(replicas: int | None, recorded: str | None = None) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": "app", "resourceVersion": "42"}
    if recorded is not None:
        metadata["annotations"] = {REPLICAS_ANNOTATION: recorded}
    spec = {} if replicas is None else {"replicas": replicas}
    return {"metadata": metadata, "spec": spec}


@pytest.mark.parametrize(
    ("seen", "on", "expected"),
    [
        pytest.param(
            copy(3),
            False,
            {
                "metadata": {"resourceVersion": "42", "annotations": {REPLICAS_ANNOTATION: "3"}},
                "spec": {"replicas": 0},
            },
            id="off-records",
        ),
        pytest.param(
            copy(0, "3"),
            False,
            {"metadata": {"resourceVersion": "42"}, "spec": {"replicas": 0}},
            id="off-at-zero-keeps-the-record",
        ),
        pytest.param(
            copy(0, "3"),
            True,
            {"metadata": {"resourceVersion": "42"}, "spec": {"replicas": 3}},
            id="on-restores",
        ),
        pytest.param(
            copy(0),
            True,
            {"metadata": {"resourceVersion": "42"}, "spec": {"replicas": 1}},
            id="on-none",
        ),
        pytest.param(
            copy(0, "many"),
            True,
            {"metadata": {"resourceVersion": "42"}, "spec": {"replicas": 1}},
            id="on-bad-record",
        ),
        pytest.param(
            copy(5, "3"),
            True,
            {"metadata": {"resourceVersion": "42"}, "spec": {"replicas": 5}},
            id="on-when-up",
        ),
        pytest.param(
            copy(None),
            False,
            {
                "metadata": {"resourceVersion": "42", "annotations": {REPLICAS_ANNOTATION: "1"}},
                "spec": {"replicas": 0},
            },
            id="off-defaulted-one",
        ),
    ],
)
def test_power_patches(seen: dict[str, Any], on: bool, expected: dict[str, Any]) -> None:
    assert power_patch(seen, on=on) == expected


def test_restart_stamps_the_time_in_utc_as_rfc_3339() -> None:
    request = command_request(
        "restart",
        "press",
        kind=BUILTIN_KINDS["DaemonSet"],
        namespace="media",
        name="agent",
        seen=None,  # restart needs no copy
        now=NOW.astimezone(timezone(timedelta(hours=2))),
    )
    assert request.method == "PATCH"
    assert request.path == "/apis/apps/v1/namespaces/media/daemonsets/agent"
    assert request.body == {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-03-01T18:04:05Z"}}}}
    }
    assert not request.guarded


def test_a_manual_job_name_stays_within_63_characters() -> None:
    assert manual_job_name("backup", NOW) == f"backup-manual-{int(NOW.timestamp())}"
    long = manual_job_name("a" * 40 + "-" + "b" * 11, NOW)
    assert len(long) == 63
    assert long.endswith(f"-manual-{int(NOW.timestamp())}")
    assert manual_job_name("x" * 44 + "-y", NOW) == "x" * 44 + f"-manual-{int(NOW.timestamp())}"


def test_run_and_power_need_the_watched_copy() -> None:
    for operation in ("run", "power"):
        with pytest.raises(NotSeen, match="has not been seen by its watch"):
            command_request(
                operation,
                "press",
                kind=BUILTIN_KINDS["CronJob"],
                namespace="batch",
                name="backup",
                seen=None,
                now=NOW,
            )
