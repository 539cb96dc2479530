"""What each connection attempt asks of the broker, with a clock the test moves.

Covered: MQTT 5 starts clean once, then resumes and leaves the expiry to the broker; an
expiry of 0 is a clean session every time; a broker refusing MQTT 5 moves the policy to
3.1.1 (once, and only for that refusal); on 3.1.1 the session is discarded first at start
and after an absence longer than the expiry, and resumed after a shorter one; the absence
counts from the first loss, not from failed attempts since.
"""

from __future__ import annotations

from aiomqtt.exceptions import MqttConnectError, MqttError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from mqtt_kube.mqtt.session import MQTT5, MQTT311, SessionPlan, SessionPolicy


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _refusal(name: str) -> MqttConnectError:
    return MqttConnectError(ReasonCode(PacketTypes.CONNACK, name))


def test_mqtt5_starts_clean_once_then_resumes_and_lets_the_broker_expire_it() -> None:
    clock = Clock()
    policy = SessionPolicy(30, clock=clock)
    assert policy.plan() == SessionPlan(MQTT5, clean=True, expiry=30)
    policy.plan()  # a failed attempt changes nothing
    assert policy.plan().clean
    policy.connected()
    policy.lost()
    clock.now += 3600
    assert policy.plan() == SessionPlan(MQTT5, clean=False, expiry=30)


def test_an_expiry_of_zero_is_a_clean_session_every_time() -> None:
    policy = SessionPolicy(0, clock=Clock())
    for _ in range(2):
        assert policy.plan() == SessionPlan(MQTT5, clean=True, expiry=0)
        policy.connected()
        policy.lost()
    assert policy.refused_protocol(_refusal("Unsupported protocol version"))
    assert policy.plan() == SessionPlan(MQTT311, clean=True, expiry=0)


def test_only_a_refused_protocol_version_moves_to_311_and_only_once() -> None:
    policy = SessionPolicy(30, clock=Clock())
    assert not policy.refused_protocol(_refusal("Bad user name or password"))
    assert not policy.refused_protocol(MqttError("no route to host"))
    assert policy.protocol is MQTT5
    assert policy.refused_protocol(_refusal("Unsupported protocol version"))
    assert policy.protocol is MQTT311
    assert not policy.refused_protocol(_refusal("Unsupported protocol version"))


def test_on_311_the_session_is_discarded_at_start_and_after_a_long_absence_only() -> None:
    clock = Clock()
    policy = SessionPolicy(30, clock=clock)
    policy.refused_protocol(_refusal("Unsupported protocol version"))
    assert policy.plan() == SessionPlan(MQTT311, clean=False, expiry=30, discard_first=True)
    policy.connected()
    policy.lost()
    clock.now += 29
    assert not policy.plan().discard_first
    clock.now += 2
    assert policy.plan() == SessionPlan(MQTT311, clean=False, expiry=30, discard_first=True)


def test_the_absence_counts_from_the_first_loss() -> None:
    clock = Clock()
    policy = SessionPolicy(30, clock=clock)
    policy.refused_protocol(_refusal("Unsupported protocol version"))
    policy.connected()
    policy.lost()
    clock.now += 20
    policy.lost()  # e.g. a second drop noticed later changes nothing
    clock.now += 20
    assert policy.plan().discard_first
    policy.connected()
    policy.lost()
    clock.now += 1
    assert not policy.plan().discard_first
