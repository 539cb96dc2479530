"""The state board: change-only publishing, coalescing, republish after reconnect.

Covered: first publish, unchanged payloads publish nothing, bursts coalesce to the last
value, a failed publish (disconnected) is retried by `republish`, republish sends all.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mqtt_kube.bridge.stateboard import StateBoard


class RecordingPublisher:
    """An in-memory publisher: records what would reach the broker."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, int, bool]] = []
        self.connected = True

    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]:
        return asyncio.ensure_future(self.publish(topic, payload, qos=qos, retain=retain))

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> bool:
        await asyncio.sleep(0)
        if not self.connected:
            return False
        self.sent.append((topic, str(payload), qos, retain))
        return True


@pytest.fixture
async def board() -> AsyncIterator[tuple[StateBoard, RecordingPublisher]]:
    publisher = RecordingPublisher()
    board = StateBoard(publisher)
    task = asyncio.create_task(board.run())
    yield board, publisher
    task.cancel()


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_new_state_is_published_with_its_qos_and_retain(board) -> None:
    states, publisher = board
    states.set("a/state", "ON", qos=1, retain=True)
    await settle()
    assert publisher.sent == [("a/state", "ON", 1, True)]


async def test_an_unchanged_payload_publishes_nothing(board) -> None:
    states, publisher = board
    states.set("a/state", "ON", qos=1, retain=True)
    await settle()
    states.set("a/state", "ON", qos=1, retain=True)
    await settle()
    assert len(publisher.sent) == 1


async def test_a_burst_on_one_topic_publishes_only_the_last_value(board) -> None:
    states, publisher = board
    for value in ("1", "2", "3", "4"):
        states.set("a/count", value, qos=0, retain=False)
    await settle()
    assert publisher.sent == [("a/count", "4", 0, False)]


async def test_a_change_and_its_undo_before_publishing_send_nothing_new(board) -> None:
    states, publisher = board
    states.set("a/state", "OFF", qos=1, retain=True)
    await settle()
    states.set("a/state", "ON", qos=1, retain=True)
    states.set("a/state", "OFF", qos=1, retain=True)
    await settle()
    assert [p for _, p, _, _ in publisher.sent] == ["OFF"]


async def test_states_set_while_disconnected_go_out_on_republish(board) -> None:
    states, publisher = board
    publisher.connected = False
    states.set("a/state", "ON", qos=1, retain=True)
    states.set("b/state", "OFF", qos=1, retain=False)
    await settle()
    assert publisher.sent == []
    publisher.connected = True
    await states.republish()
    assert sorted(publisher.sent) == [("a/state", "ON", 1, True), ("b/state", "OFF", 1, False)]


async def test_republish_sends_every_state_again(board) -> None:
    states, publisher = board
    states.set("a/state", "ON", qos=1, retain=True)
    await settle()
    await states.republish()
    assert publisher.sent == [("a/state", "ON", 1, True)] * 2
    assert states.snapshot() == {"a/state": "ON"}
