"""The real Home Assistant tier: which releases a run tests, and one started HA per module.

`--ha-tiers` (else `$MQTT_KUBE_HA_TIERS`, else the oldest supported release) names the
tiers, comma-separated, or `all`. A test that takes the `home_assistant` fixture runs once
per selected tier. The tier must have been provisioned (`make homeassistant`): a selected
tier that is not installed fails the test with the command that installs it, it is never
skipped. Each test module shares one Home Assistant per tier, with its own mosquitto;
tests keep apart by topic prefix and client-id. A module of such tests marks itself
`pytest.mark.usefixtures("nothing_refused")`: no discovery payload may be refused.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from mqtt_kube.testing.hacore.instance import HomeAssistant
from mqtt_kube.testing.hacore.process import ProvisionError
from mqtt_kube.testing.hacore.provision import installed
from mqtt_kube.testing.hacore.tiers import (
    DEFAULT_TIERS,
    TIERS_ENV,
    Tier,
    cache_root,
    select_tiers,
)
from mqtt_kube.testing.mosquitto import Mosquitto

__all__ = ["home_assistant", "nothing_refused", "pytest_addoption", "pytest_generate_tests"]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--ha-tiers",
        default=None,
        help=f"Home Assistant releases to test against, comma-separated, or all "
        f"(default: ${TIERS_ENV}, else {DEFAULT_TIERS})",
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "ha_tier" not in metafunc.fixturenames:
        return
    option = metafunc.config.getoption("--ha-tiers")
    if option is not None:
        tiers = select_tiers(option, source="--ha-tiers")
    else:
        tiers = select_tiers(os.environ.get(TIERS_ENV, DEFAULT_TIERS), source=TIERS_ENV)
    metafunc.parametrize("ha_tier", tiers, ids=[tier.slug for tier in tiers], scope="module")


@pytest.fixture(scope="module")
def home_assistant(ha_tier: Tier) -> Iterator[HomeAssistant]:
    """A started, onboarded Home Assistant of the tier, with MQTT on a broker of its own."""
    place = installed(ha_tier)
    if place is None:
        pytest.fail(
            f"Home Assistant {ha_tier.version} is not provisioned in {cache_root()}: run "
            f"`make homeassistant HA_TIERS={ha_tier.version}` "
            f"(python -m mqtt_kube.testing.hacore provision {ha_tier.version})",
            pytrace=False,
        )
    with Mosquitto() as broker:
        try:
            with HomeAssistant(place, broker) as ha:
                yield ha
        except ProvisionError as exc:
            pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def nothing_refused(home_assistant: HomeAssistant) -> Iterator[None]:
    """Home Assistant refused no discovery payload during the test; what it logged meanwhile
    is shown when the test fails."""
    log_before = len(home_assistant.log_text())
    refused_before = len(home_assistant.refused_payloads())
    yield
    print(f"--- {home_assistant!r} log during the test ---")
    print(home_assistant.log_text()[log_before:])
    assert home_assistant.refused_payloads()[refused_before:] == []
