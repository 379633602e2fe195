"""The event bus against a real Mosquitto on a free loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import socket
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import aiomqtt
import pytest

from voicecenter.events.broker import BrokerError, MosquittoBroker
from voicecenter.events.publisher import OutboxPublisher
from voicecenter.settings import MqttSettings, Settings, StoreSettings
from voicecenter.store import Store, open_store

pytestmark = pytest.mark.skipif(
    not os.access("/usr/sbin/mosquitto", os.X_OK), reason="needs /usr/sbin/mosquitto"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


async def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    """Wait for a condition on state that several tasks and processes change."""
    async with asyncio.timeout(timeout):
        while not condition():  # noqa: ASYNC110
            await asyncio.sleep(0.01)


def accepts(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


class Subscriber:
    """Collects every voicecenter message while connected."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[tuple[str, dict]] = []
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    async def connect(self) -> None:
        self._ready.clear()
        self._task = asyncio.create_task(self._listen())
        async with asyncio.timeout(5):
            await self._ready.wait()

    async def _listen(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", self.port) as client:
                await client.subscribe("voicecenter/#", qos=1)
                self._ready.set()
                async for message in client.messages:
                    self.messages.append((str(message.topic), json.loads(message.payload)))

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def event_ids(self) -> list[int]:
        return [payload["event_id"] for _, payload in self.messages]


@pytest.fixture
def mqtt() -> MqttSettings:
    return MqttSettings(port=free_port())


@pytest.fixture
async def broker(mqtt: MqttSettings, tmp_path: Path) -> AsyncIterator[MosquittoBroker]:
    broker = MosquittoBroker(mqtt, tmp_path / "run")
    await broker.start()
    yield broker
    await broker.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(Settings(store=StoreSettings(url=f"sqlite+aiosqlite:///{tmp_path}/vc.db")))
    yield store
    await store.close()


async def write_calls(store: Store, count: int) -> None:
    for _ in range(count):
        call = await store.calls.create_call(direction="inbound", from_uri="sip:a@x",
                                             to_uri="sip:100@x")
        await store.calls.mark_answered(call.id)
        await store.calls.end_call(call.id, "caller_hangup")


async def test_broker_starts_stops_and_leaves_no_process(broker: MosquittoBroker,
                                                          mqtt: MqttSettings) -> None:
    pid = broker.pid
    assert pid is not None and accepts(mqtt.port)
    assert f"listener {mqtt.port} 127.0.0.1" in broker.conf_path.read_text()
    await broker.stop()
    assert broker.pid is None and not accepts(mqtt.port)
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    await broker.start()  # and again, as the outage test does
    assert accepts(mqtt.port)


async def test_broker_is_restarted_when_it_dies(broker: MosquittoBroker,
                                                mqtt: MqttSettings) -> None:
    first = broker.pid
    assert first is not None
    os.kill(first, signal.SIGKILL)
    await eventually(lambda: broker.restarts == 1 and broker.pid not in (None, first))
    assert accepts(mqtt.port)


async def test_broker_reports_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        mqtt = MqttSettings(port=taken.getsockname()[1])
        with pytest.raises(BrokerError, match="in use"):
            await MosquittoBroker(mqtt, tmp_path).start()


async def test_broker_refuses_anonymous_access_off_loopback(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="loopback"):
        MosquittoBroker(MqttSettings(host="10.1.2.3"), tmp_path).write_config()


async def test_broker_with_credentials_rejects_strangers(tmp_path: Path) -> None:
    mqtt = MqttSettings(port=free_port(), username="vc", password="s3cret")
    async with MosquittoBroker(mqtt, tmp_path):
        assert "s3cret" not in (tmp_path / "mosquitto.passwd").read_text()
        with pytest.raises(aiomqtt.MqttError):
            async with aiomqtt.Client("127.0.0.1", mqtt.port):
                pass
        async with aiomqtt.Client("127.0.0.1", mqtt.port, username="vc", password="s3cret"):
            pass


async def test_events_go_out_at_once_in_order(broker: MosquittoBroker, mqtt: MqttSettings,
                                             store: Store) -> None:
    subscriber = Subscriber(mqtt.port)
    await subscriber.connect()
    async with OutboxPublisher(store, mqtt) as publisher:
        await eventually(lambda: publisher.connected)
        call = await store.calls.create_call(direction="inbound", from_uri="sip:a@x",
                                             to_uri="sip:100@x")
        started = asyncio.get_running_loop().time()
        await store.calls.add_event(call.id, "dtmf.received", {"digit": "5"})
        await eventually(lambda: len(subscriber.messages) == 3)
        # Woken by the commit, not by the 1 s poll.
        assert asyncio.get_running_loop().time() - started < 0.5
        await write_calls(store, 20)
        await publisher.wait_drained()
        await eventually(lambda: len(subscriber.messages) == 3 + 20 * 5)
    await subscriber.close()

    assert subscriber.event_ids() == list(range(1, 3 + 20 * 5 + 1))
    topic, payload = subscriber.messages[2]
    assert topic == f"voicecenter/calls/{call.id}/dtmf"
    assert payload["data"] == {"digit": "5"} and payload["interaction_id"] == call.interaction_id
    assert not publisher.running


async def test_broker_outage_loses_no_event(broker: MosquittoBroker, mqtt: MqttSettings,
                                           store: Store) -> None:
    before = Subscriber(mqtt.port)
    await before.connect()
    publisher = OutboxPublisher(store, mqtt)
    await publisher.start()
    try:
        await write_calls(store, 4)  # 20 events
        await eventually(lambda: len(before.messages) == 20)
        await publisher.wait_drained()  # all 20 acknowledged and marked

        await broker.stop()
        await write_calls(store, 6)  # 30 events while the broker is down
        assert await store.outbox.count_pending() == 30
        # Restart only when the publisher has just failed a retry at full backoff
        # (2 s), so the new subscriber is surely listening before it republishes.
        await eventually(lambda: publisher.failed_attempts >= 5, timeout=10)
        await broker.start()
        after = Subscriber(mqtt.port)
        await after.connect()
        await write_calls(store, 2)  # and 10 more as it comes back

        await publisher.wait_drained(timeout=10)
        await eventually(lambda: max(after.event_ids(), default=0) == 60)
        await before.close()
        await after.close()
    finally:
        await publisher.stop()

    received = before.event_ids() + after.event_ids()
    first_seen = list(dict.fromkeys(received))
    assert first_seen == list(range(1, 61)), "every event, in order"
    assert after.event_ids() == list(range(21, 61)), "no gap and no repeat after the outage"
    assert all(row.published_at is not None for row in await store.outbox.all())


async def test_stopping_leaves_no_task_or_process(mqtt: MqttSettings, store: Store,
                                                  tmp_path: Path) -> None:
    broker = MosquittoBroker(mqtt, tmp_path / "run")
    await broker.start()
    pid = broker.pid
    assert pid is not None
    publisher = OutboxPublisher(store, mqtt)
    await publisher.start()
    await eventually(lambda: publisher.connected)
    await write_calls(store, 1)
    await publisher.wait_drained()

    await publisher.stop()
    await broker.stop()
    await asyncio.sleep(0)  # let cancelled client internals finish

    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
