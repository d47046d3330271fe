import asyncio

import pytest
from hypothesis import given
from hypothesis import strategies as st

from veille.bus.memory import Channel, ChannelClosed


async def test_full_channel_makes_the_producer_wait() -> None:
    channel: Channel[int] = Channel(2)
    await channel.put(1)
    await channel.put(2)
    blocked = asyncio.create_task(channel.put(3))
    await asyncio.sleep(0.01)
    assert not blocked.done()
    assert await channel.get() == 1
    await asyncio.wait_for(blocked, 1)
    assert [await channel.get(), await channel.get()] == [2, 3]
    assert channel.high_water == 2


async def test_close_drains_then_ends() -> None:
    channel: Channel[str] = Channel(4)
    await channel.put("a")
    await channel.put("b")
    channel.close()
    with pytest.raises(ChannelClosed):
        await channel.put("c")
    assert [item async for item in channel] == ["a", "b"]
    with pytest.raises(ChannelClosed):
        await channel.get()


async def test_close_wakes_a_waiting_consumer_and_producer() -> None:
    channel: Channel[int] = Channel(1)
    consumer = asyncio.create_task(channel.get())
    await asyncio.sleep(0)
    channel.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(consumer, 1)

    full: Channel[int] = Channel(1)
    await full.put(1)
    producer = asyncio.create_task(full.put(2))
    await asyncio.sleep(0)
    full.close()
    with pytest.raises(ChannelClosed):
        await asyncio.wait_for(producer, 1)


async def test_try_put_and_get_nowait_never_wait() -> None:
    channel: Channel[int] = Channel(1)
    assert channel.get_nowait() is None
    assert channel.try_put(1)
    assert not channel.try_put(2)
    assert channel.get_nowait() == 1


async def test_cancelled_waiter_leaves_no_trace() -> None:
    channel: Channel[int] = Channel(1)
    waiter = asyncio.create_task(channel.get())
    await asyncio.sleep(0)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    await channel.put(7)
    assert await channel.get() == 7


def test_rejects_a_non_positive_size() -> None:
    with pytest.raises(ValueError, match="maxsize"):
        Channel(0, name="x")


@given(st.lists(st.integers(), max_size=200), st.integers(1, 8))
def test_order_is_kept_and_the_bound_holds(items: list[int], size: int) -> None:
    async def run() -> list[int]:
        channel: Channel[int] = Channel(size)
        received: list[int] = []

        async def produce() -> None:
            for item in items:
                await channel.put(item)
                assert len(channel) <= size
            channel.close()

        async def consume() -> None:
            async for item in channel:
                received.append(item)
                await asyncio.sleep(0)

        await asyncio.gather(produce(), consume())
        return received

    assert asyncio.run(run()) == items
