"""Callbacks keep their place, are stored, and come back after a restart.

The routing service runs for real on a real store; only voice is absent
(no media workers), which is enough to see places, storage and the agent
being reserved first. tests/test_callbacks_e2e.py dials for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from voicecenter.distribution.callbacks import CallbackService, parse_when
from voicecenter.distribution.service import DistributionService
from voicecenter.flows.context import QueueRequest
from voicecenter.routing.decisions import Assign
from voicecenter.routing.model import Agent, AgentState
from voicecenter.settings import QueueSettings, Settings, StoreSettings
from voicecenter.store import Store, open_store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(Settings(store=StoreSettings(
        url=f"sqlite+aiosqlite:///{tmp_path}/cb.db")))
    yield store
    await store.close()


def routing(store: Store, tmp_path: Path) -> tuple[DistributionService, CallbackService]:
    voice: Any = SimpleNamespace(by_id={}, sessions={})
    service = DistributionService(store, voice, "127.0.0.1:5060", tmp_path)
    callbacks = CallbackService(service, None, QueueSettings(callback_dial_host="127.0.0.1:5999"))
    service.callbacks = callbacks
    return service, callbacks


def request(call_id: str) -> QueueRequest:
    return QueueRequest(call_id=call_id, queue="support", skills=("support",), priority=0)


async def test_a_caller_who_asks_for_a_callback_keeps_the_place(store: Store,
                                                               tmp_path: Path) -> None:
    service, callbacks = routing(store, tmp_path)
    for call_id in ("first", "second"):
        await service.enqueue(request(call_id))
    record = await callbacks.keep_place(request("first"), "5551234")
    assert record is not None and record.uri == "sip:5551234@127.0.0.1:5999"
    # The caller hangs up: the queue node withdraws, the place stays.
    await service.withdraw(request("first"), "abandoned")
    assert service.router.queue.position("first") == 1
    assert service.figures.snapshot("support")["waiting"] == 2
    assert "first" not in service.waiters
    # Too late once the interaction left the queue.
    assert await callbacks.keep_place(request("nobody"), "5551234") is None


async def test_pending_callbacks_come_back_at_their_place_after_a_restart(
        store: Store, tmp_path: Path) -> None:
    service, callbacks = routing(store, tmp_path)
    await service.enqueue(request("early"))
    service.started -= 60  # it has waited a minute
    await service.enqueue(request("later"))
    await callbacks.keep_place(request("early"), "5550001")
    scheduled = await callbacks.schedule("5550002", datetime.now(UTC) + timedelta(hours=1),
                                         ["support"])
    await callbacks.stop()
    # A new server process on the same database.
    service2, callbacks2 = routing(store, tmp_path)
    await service2.enqueue(request("newcomer"))
    await callbacks2.start()
    await asyncio.sleep(0.01)
    it = service2.router.queue.get("early")
    assert it is not None and it.waited(service2.now()) == pytest.approx(60, abs=2)
    assert service2.router.queue.position("early") == 1
    assert service2.router.queue.position("newcomer") == 2
    # The scheduled one waits for its time, stored and pending.
    assert scheduled.router_id not in service2.router.queue
    assert callbacks2.owns(scheduled.router_id)
    assert (await store.callbacks.get(scheduled.id)).state == "pending"
    await callbacks2.stop()


async def test_the_agent_is_reserved_first_and_the_place_kept_when_no_media(
        store: Store, tmp_path: Path) -> None:
    service, callbacks = routing(store, tmp_path)
    record = await callbacks.schedule("5550003", None, ["support"])
    await asyncio.sleep(0.01)
    service.router.add_agent(Agent(id="bob", skills={"support": 3},
                                   state=AgentState.AVAILABLE))
    decisions = service.router.decide(service.now())
    assert [(type(d), d.agent_id) for d in decisions] == [(Assign, "bob")]
    assert service.router.agent("bob").state is AgentState.RESERVED
    await callbacks.offer(decisions[0])  # no worker to dial from: the offer is missed
    assert record.router_id in service.router.queue
    assert (await store.callbacks.get(record.id)).state == "pending"


def test_scheduled_times_need_a_zone() -> None:
    assert parse_when("2026-11-23T15:00:00Z") == datetime(2026, 11, 23, 15, tzinfo=UTC)
    assert parse_when(None) is None
    with pytest.raises(ValueError):
        parse_when("2026-11-23T15:00:00")


async def test_a_callback_cut_by_a_restart_is_done_not_dialed_again(store: Store,
                                                                    tmp_path: Path) -> None:
    _, callbacks = routing(store, tmp_path)
    record = await callbacks.schedule("5550004", None, ["support"])
    await store.callbacks.update(record.id, state="connected", attempts=1)
    await callbacks.stop()
    service2, callbacks2 = routing(store, tmp_path)
    await callbacks2.start()
    await asyncio.sleep(0.01)
    assert record.router_id not in service2.router.queue
    assert (await store.callbacks.get(record.id)).state == "done"
