"""The state board forgetting a topic whose binding went (a reload, an object lost).

Covered: a retained state is cleared with an empty retained payload, then forgotten
(republish sends nothing for it); a topic that was never retained is just forgotten; a
state still being published when it is forgotten is cleared after it; a binding that takes
the topic again before the clear went out publishes its own state; chosen topics are
republished alone.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mqtt_kube.bridge.stateboard import StateBoard


class GatedPublisher:
    """Records publishes; each waits for `gate` while it is closed (a slow broker)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str, bool]] = []
        self.started: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()

    def publish_soon(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> asyncio.Future[bool]:
        return asyncio.ensure_future(self.publish(topic, payload, qos=qos, retain=retain))

    async def publish(
        self, topic: str, payload: str | bytes, *, qos: int = 1, retain: bool = False
    ) -> bool:
        self.started.append(str(payload))
        await self.gate.wait()
        self.sent.append((topic, str(payload), retain))
        return True


@pytest.fixture
async def board() -> AsyncIterator[tuple[StateBoard, GatedPublisher]]:
    publisher = GatedPublisher()
    board = StateBoard(publisher)
    task = asyncio.create_task(board.run())
    yield board, publisher
    task.cancel()


async def settle() -> None:
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_retained_state_is_cleared_then_forgotten(board) -> None:
    states, publisher = board
    states.set("a", "ON", qos=1, retain=True)
    states.set("b", "1", qos=1, retain=False)
    await settle()
    states.forget("a")
    states.forget("b")
    await settle()
    # One batch goes out in no particular order; the clear follows its own state.
    assert sorted(publisher.sent[:2]) == [("a", "ON", True), ("b", "1", False)]
    assert publisher.sent[2:] == [("a", "", True)]
    assert len(states) == 0
    await states.republish()
    assert publisher.sent[3:] == []


async def test_a_state_in_flight_when_forgotten_is_cleared_after_it(board) -> None:
    states, publisher = board
    publisher.gate.clear()
    states.set("a", "0", qos=1, retain=True)
    await settle()
    assert publisher.started == ["0"]  # on its way to the broker
    states.forget("a")
    publisher.gate.set()
    await settle()
    assert publisher.sent == [("a", "0", True), ("a", "", True)]
    assert len(states) == 0


async def test_a_topic_taken_again_before_the_clear_publishes_the_new_state(board) -> None:
    states, publisher = board
    states.set("a", "ON", qos=1, retain=True)
    await settle()
    states.forget("a")
    states.set("a", "ON", qos=1, retain=True)  # the new binding of the same object
    await settle()
    assert publisher.sent[-1] == ("a", "ON", True)
    assert states.snapshot() == {"a": "ON"}


async def test_chosen_topics_are_republished_alone(board) -> None:
    states, publisher = board
    states.set("a", "1", qos=1, retain=True)
    states.set("b", "2", qos=1, retain=True)
    await settle()
    await states.republish(["b", "unknown"])
    assert publisher.sent[2:] == [("b", "2", True)]
