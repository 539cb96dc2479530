"""The command router: per-topic workers, coalescing, retained policy, bad text.

Covered: a message reaches its handler; patch topics coalesce a burst to the newest
payload; action topics keep order and cap their queue; retained messages follow the
route's policy; non-UTF-8 payloads and unknown topics are dropped; a failing handler
is counted and does not stop the worker.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from mqtt_kube.bridge.commands import ACTION_QUEUE_LIMIT, CommandRouter
from mqtt_kube.bridge.metrics import CommandCounters
from mqtt_kube.config.model import RetainedPolicy
from mqtt_kube.core.message import Message


@pytest.fixture
async def router() -> AsyncIterator[tuple[CommandRouter, CommandCounters]]:
    counters = CommandCounters()
    router = CommandRouter(counters=counters)
    task = asyncio.create_task(router.run())
    await asyncio.sleep(0)
    yield router, counters
    task.cancel()


def message(topic: str, payload: bytes, *, retain: bool = False) -> Message:
    return Message(topic=topic, payload=payload, retain=retain, qos=1)


class SlowHandler:
    """Records payloads; each call waits until released, like a slow API."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.release = asyncio.Event()

    async def __call__(self, text: str) -> None:
        self.seen.append(text)
        await self.release.wait()


def route(
    router: CommandRouter, handler: SlowHandler, *, coalesce: bool, retained: RetainedPolicy
) -> None:
    router.add("t/set", handler, coalesce=coalesce, retained=retained, label="test binding")


async def drain(handler: SlowHandler) -> None:
    handler.release.set()
    for _ in range(10):
        await asyncio.sleep(0)


async def test_a_message_reaches_its_handler_as_text(router) -> None:
    routes, _ = router
    handler = SlowHandler()
    route(routes, handler, coalesce=True, retained="apply")
    routes.dispatch(message("t/set", b"ON"))
    await drain(handler)
    assert handler.seen == ["ON"]


async def test_a_burst_on_a_patch_topic_coalesces_to_the_newest(router) -> None:
    routes, counters = router
    handler = SlowHandler()
    route(routes, handler, coalesce=True, retained="apply")
    for payload in (b"1", b"2", b"3", b"4"):
        routes.dispatch(message("t/set", payload))
        await asyncio.sleep(0)
    await drain(handler)
    assert handler.seen == ["1", "4"]
    assert counters.ignored == 2


async def test_an_action_topic_keeps_order_and_caps_its_queue(router) -> None:
    routes, counters = router
    handler = SlowHandler()
    route(routes, handler, coalesce=False, retained="apply")
    payloads = [str(n).encode() for n in range(ACTION_QUEUE_LIMIT + 5)]
    for payload in payloads:
        routes.dispatch(message("t/set", payload))
        await asyncio.sleep(0)
    await drain(handler)
    assert handler.seen == [p.decode() for p in payloads[: ACTION_QUEUE_LIMIT + 1]]
    assert counters.failed == 4


@pytest.mark.parametrize(("policy", "expected"), [("apply", ["ON"]), ("ignore", [])])
async def test_retained_messages_follow_the_policy(router, policy, expected) -> None:
    routes, _ = router
    handler = SlowHandler()
    route(routes, handler, coalesce=True, retained=policy)
    routes.dispatch(message("t/set", b"ON", retain=True))
    await drain(handler)
    assert handler.seen == expected


async def test_a_payload_that_is_not_utf8_is_dropped_and_counted(router, caplog) -> None:
    routes, counters = router
    handler = SlowHandler()
    route(routes, handler, coalesce=True, retained="apply")
    routes.dispatch(message("t/set", b"\xff\xfe"))
    await drain(handler)
    assert handler.seen == []
    assert counters.failed == 1
    assert "test binding: payload on t/set is not UTF-8" in caplog.text


async def test_a_message_on_an_unknown_topic_is_ignored(router) -> None:
    routes, counters = router
    routes.dispatch(message("other/topic", b"ON"))
    await asyncio.sleep(0)
    assert counters == CommandCounters()


async def test_a_failing_handler_is_logged_and_the_worker_goes_on(router, caplog) -> None:
    routes, counters = router
    seen: list[str] = []

    async def handler(text: str) -> None:
        seen.append(text)
        if text == "boom":
            raise RuntimeError("handler broke")

    routes.add("t/set", handler, coalesce=False, retained="apply", label="test binding")
    routes.dispatch(message("t/set", b"boom"))
    routes.dispatch(message("t/set", b"next"))
    for _ in range(10):
        await asyncio.sleep(0)
    assert seen == ["boom", "next"]
    assert counters.failed == 1
    assert "test binding: command on t/set failed" in caplog.text
