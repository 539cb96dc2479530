"""Publish deadlines: one timer for all, oldest first; a cut link answers every one at once.

Covered: a future not answered in time answers False, and one answered meanwhile keeps its
answer; later deadlines are still kept after the first has fired; `cut()` answers False
to everything still waiting.
"""

from __future__ import annotations

import asyncio

from mqtt_kube.mqtt.deadlines import Deadlines

SECONDS = 0.05


def waiting() -> asyncio.Future[bool]:
    return asyncio.get_running_loop().create_future()


async def test_an_unanswered_publish_answers_false_and_an_answered_one_keeps_its_answer() -> None:
    deadlines = Deadlines(SECONDS)
    answered, silent = waiting(), waiting()
    deadlines.track(answered)
    deadlines.track(silent)
    answered.set_result(True)
    deadlines.discard(answered)
    assert await asyncio.wait_for(silent, 5) is False
    assert answered.result() is True


async def test_later_deadlines_are_kept_after_the_first_fires() -> None:
    deadlines = Deadlines(SECONDS)
    first = waiting()
    deadlines.track(first)
    assert await asyncio.wait_for(first, 5) is False
    second = waiting()
    deadlines.track(second)
    assert not second.done()
    assert await asyncio.wait_for(second, 5) is False


async def test_a_cut_answers_every_waiting_publish_at_once() -> None:
    deadlines = Deadlines(3600)
    futures = [waiting() for _ in range(5)]
    for future in futures:
        deadlines.track(future)
    deadlines.cut()
    assert [f.result() for f in futures] == [False] * 5
