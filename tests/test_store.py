"""The store on a real SQLite file: schema by migration, calls, timeline, outbox."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine as create_sync_engine

from voicecenter.events.topics import UnknownEventKind
from voicecenter.settings import Settings, StoreSettings
from voicecenter.store import (
    InvalidState,
    NoSuchCall,
    NoSuchInteraction,
    Store,
    open_store,
)
from voicecenter.store.models import Base
from voicecenter.store.timeline import record_event


def settings_for(db: Path) -> Settings:
    return Settings(store=StoreSettings(url=f"sqlite+aiosqlite:///{db}"))


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    store = await open_store(settings_for(tmp_path / "vc.db"))
    yield store
    await store.close()


def rows(db: Path, sql: str, *args: object) -> list[tuple]:
    """Read the file the way Kamailio and operators do: plain sqlite3, no ORM."""
    with sqlite3.connect(db) as connection:
        return connection.execute(sql, args).fetchall()


async def inbound(store: Store, **extra: object):
    return await store.calls.create_call(
        direction="inbound", from_uri="sip:alice@127.0.0.1", to_uri="sip:100@127.0.0.1",
        called_number="100", sip_call_id="abc@127.0.0.1", **extra,
    )


ROOT_MIGRATIONS = (Path(__file__).resolve().parent.parent
                   / "voicecenter" / "store" / "migrations" / "versions")


async def test_migration_creates_the_schema_on_an_empty_file(tmp_path: Path) -> None:
    db = tmp_path / "sub" / "fresh.db"
    store = await open_store(settings_for(db))
    await store.close()

    tables = {name for (name,) in rows(db, "SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"interactions", "calls", "call_events", "outbox", "agents", "sip_accounts",
            "version", "alembic_version"} <= tables
    newest = max(p.name[:4] for p in (ROOT_MIGRATIONS).glob("0*.py"))
    assert rows(db, "SELECT version_num FROM alembic_version") == [(newest,)]
    assert rows(db, "PRAGMA journal_mode") == [("wal",)]
    columns = {(name, kind) for _, name, kind, *_ in rows(db, "PRAGMA table_info(sip_accounts)")}
    assert columns == {("id", "INTEGER"), ("username", "TEXT"), ("domain", "TEXT"),
                       ("ha1", "TEXT"), ("ha1b", "TEXT"), ("agent_id", "INTEGER")}
    assert rows(db, "SELECT table_version FROM version WHERE table_name='sip_accounts'") == [(7,)]

    # The models describe exactly what the migration made.
    engine = create_sync_engine(f"sqlite:///{db}")
    with engine.connect() as connection:
        diff = compare_metadata(MigrationContext.configure(connection), Base.metadata)
    engine.dispose()
    assert diff == []

    # Opening again is a no-op upgrade that keeps the data.
    store = await open_store(settings_for(db))
    await store.agents.add("bob", "pw", {}, "127.0.0.1")
    await store.close()
    store = await open_store(settings_for(db))
    assert [agent.name for agent in await store.agents.list()] == ["bob"]
    await store.close()


async def test_call_lifecycle_records_a_timeline(store: Store) -> None:
    call = await inbound(store, worker_id=3, flow="digits_demo")
    assert (call.state, call.direction, call.worker_id) == ("ringing", "inbound", 3)
    assert (await store.calls.find_by_sip_call_id("abc@127.0.0.1")) == call

    answered = await store.calls.mark_answered(call.id)
    assert answered.state == "answered" and answered.answered_at is not None
    assert await store.calls.mark_answered(call.id) == answered  # twice: no new event
    await store.calls.add_event(call.id, "dtmf.received", {"digit": "4"})
    await store.calls.set_state(call.id, "held", "call.hold_started")
    ended = await store.calls.end_call(call.id, "caller_hangup")
    again = await store.calls.end_call(call.id, "worker_lost")

    assert ended == again and ended.state == "ended" and ended.end_reason == "caller_hangup"
    assert call.started_at <= ended.answered_at <= ended.ended_at  # type: ignore[operator]
    timeline = await store.calls.timeline(call.id)
    assert [event.kind for event in timeline] == [
        "call.created", "call.answered", "dtmf.received", "call.hold_started", "call.ended",
    ]
    assert timeline[2].data == {"digit": "4"}
    assert timeline[-1].data["reason"] == "caller_hangup"
    assert all(event.at.tzinfo is not None for event in timeline)
    assert [e.at for e in timeline] == sorted(e.at for e in timeline)

    # The voice interaction ended with its only call.
    interaction = await store.interactions.get(call.interaction_id)
    assert interaction.state == "ended" and interaction.customer == "sip:alice@127.0.0.1"
    kinds = [event.kind for event in await store.interactions.timeline(call.interaction_id)]
    assert kinds[0] == "interaction.created" and kinds[-1] == "interaction.ended"

    with pytest.raises(InvalidState):
        await store.calls.mark_answered(call.id)
    with pytest.raises(NoSuchCall):
        await store.calls.get("nope")
    with pytest.raises(NoSuchCall):
        await store.calls.add_event("nope", "dtmf.received", {})
    assert (await store.calls.recent(limit=5))[0].id == call.id
    assert await store.calls.live() == []


async def test_interaction_outlives_a_leg_until_its_last_call(store: Store) -> None:
    caller = await inbound(store)
    agent_leg = await store.calls.create_call(
        direction="outbound", from_uri="sip:vc@127.0.0.1", to_uri="sip:bob@127.0.0.1",
        interaction_id=caller.interaction_id,
    )
    await store.interactions.attach(caller.interaction_id, {"account": "12345"})
    await store.calls.end_call(caller.id, "caller_hangup")
    assert (await store.interactions.get(caller.interaction_id)).state == "active"
    await store.calls.end_call(agent_leg.id, "peer_hangup")
    interaction = await store.interactions.get(caller.interaction_id)
    assert interaction.state == "ended" and interaction.attached == {"account": "12345"}
    assert [c.id for c in await store.interactions.calls(caller.interaction_id)] == [
        caller.id, agent_leg.id,
    ]
    with pytest.raises(InvalidState):  # no new legs on an ended conversation
        await store.calls.create_call(
            direction="outbound", from_uri="a", to_uri="b", interaction_id=interaction.id
        )
    with pytest.raises(NoSuchInteraction):
        await store.calls.create_call(
            direction="outbound", from_uri="a", to_uri="b", interaction_id="missing"
        )


async def test_end_calls_of_worker_ends_only_its_live_calls(store: Store) -> None:
    on_one = [await inbound(store, worker_id=1) for _ in range(3)]
    on_two = await inbound(store, worker_id=2)
    await store.calls.end_call(on_one[0].id, "caller_hangup")
    await store.calls.mark_answered(on_one[1].id)

    ended = await store.calls.end_calls_of_worker(1, "worker_lost")

    assert ended == [on_one[1].id, on_one[2].id]
    assert await store.calls.end_calls_of_worker(1, "worker_lost") == []
    assert (await store.calls.get(on_one[0].id)).end_reason == "caller_hangup"
    for call_id in ended:
        call = await store.calls.get(call_id)
        assert (call.state, call.end_reason) == ("ended", "worker_lost")
        last = (await store.calls.timeline(call_id))[-1]
        assert (last.kind, last.data["reason"]) == ("call.ended", "worker_lost")
    assert [c.id for c in await store.calls.live()] == [on_two.id]
    assert [c.id for c in await store.calls.live(worker_id=2)] == [on_two.id]


async def test_every_event_has_its_outbox_message(store: Store, tmp_path: Path) -> None:
    call = await inbound(store)
    await store.calls.mark_answered(call.id)
    await store.calls.add_event(call.id, "flow.step", {"node": "menu", "outcome": "1"})
    await store.interactions.add_event(call.interaction_id, "flow.step", {"node": "chat"})
    await store.calls.end_call(call.id, "caller_hangup")

    db = tmp_path / "vc.db"
    events = rows(db, "SELECT id, interaction_id, call_id, kind FROM call_events ORDER BY id")
    messages = [(topic, json.loads(payload)) for topic, payload in
                rows(db, "SELECT topic, payload FROM outbox ORDER BY id")]
    assert len(events) == len(messages) == 7
    for (event_id, interaction_id, call_id, kind), (topic, payload) in zip(
        events, messages, strict=True
    ):
        assert payload["event_id"] == event_id
        assert (payload["kind"], payload["interaction_id"], payload["call_id"]) == (
            kind, interaction_id, call_id)
        assert datetime.fromisoformat(payload["at"]).utcoffset() == timedelta(0)
        assert topic.startswith("voicecenter/")
    topics = [topic for topic, _ in messages]
    assert topics[2] == f"voicecenter/calls/{call.id}/answered"
    assert topics[3] == f"voicecenter/calls/{call.id}/flow/step"
    assert topics[4] == f"voicecenter/interactions/{call.interaction_id}/flow/step"
    assert messages[3][1]["data"] == {"node": "menu", "outcome": "1"}
    assert await store.outbox.count_pending() == 7


async def test_event_and_outbox_commit_or_roll_back_together(store: Store) -> None:
    call = await inbound(store)
    before = (await store.outbox.count_pending(), len(await store.calls.timeline(call.id)))

    with pytest.raises(RuntimeError):
        async with store.write() as session:
            await record_event(session, store.topic_prefix, kind="dtmf.received",
                               interaction_id=call.interaction_id, call_id=call.id,
                               data={"digit": "9"})
            raise RuntimeError("the change that caused the event failed")
    with pytest.raises(UnknownEventKind):
        await store.calls.add_event(call.id, "call.teleported", {})

    after = (await store.outbox.count_pending(), len(await store.calls.timeline(call.id)))
    assert after == before


async def test_commits_with_outbox_rows_wake_the_publisher(store: Store) -> None:
    store.outbox_written.clear()
    call = await inbound(store)
    assert store.outbox_written.is_set()
    store.outbox_written.clear()
    await store.calls.assign(call.id, worker_id=7)  # no event, no wake-up
    assert not store.outbox_written.is_set()
    assert (await store.calls.get(call.id)).worker_id == 7


async def test_outbox_pending_published_and_purged(store: Store) -> None:
    for _ in range(3):
        await inbound(store)
    pending = await store.outbox.pending(limit=4)
    assert [row.id for row in pending] == [1, 2, 3, 4]
    await store.outbox.mark_published([1, 2])
    assert [row.id for row in await store.outbox.pending()] == [3, 4, 5, 6]
    assert await store.outbox.purge_published(timedelta(hours=1)) == 0
    assert await store.outbox.purge_published(timedelta(seconds=-1)) == 2
    assert [row.id for row in await store.outbox.all()] == [3, 4, 5, 6]


async def test_two_stores_on_one_file_write_concurrently(tmp_path: Path) -> None:
    """The CLI and the server write the same SQLite file; neither may see 'locked'."""
    settings = settings_for(tmp_path / "vc.db")
    first, second = await open_store(settings), await open_store(settings)
    try:
        async def agent_churn(store: Store, tag: str) -> None:
            for i in range(15):
                await store.agents.add(f"{tag}{i}", "pw", {"sales": 1}, "127.0.0.1")

        async def calls(store: Store) -> None:
            for _ in range(15):
                call = await inbound(store)
                await store.calls.end_call(call.id, "done")

        await asyncio.gather(agent_churn(first, "a"), agent_churn(second, "b"),
                             calls(first), calls(second))
        assert len(await first.agents.list()) == 30
        assert len(await second.calls.recent(limit=100)) == 30
    finally:
        await first.close()
        await second.close()


async def test_naive_datetimes_are_refused(store: Store) -> None:
    call = await inbound(store)
    with pytest.raises(Exception, match="naive datetime"):
        await store.calls.add_event(call.id, "dtmf.received", {}, at=datetime(2024, 1, 1))
