"""Page events: who sees what, and resuming after a reconnect (real SQLite store, no server)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete

from voicecenter.events.page_feed import PageFeed, PageSubscriber
from voicecenter.events.page_visibility import (
    EVERY_AGENT,
    STAFF_ONLY,
    AudienceTracker,
    Viewer,
)
from voicecenter.settings import Settings, StoreSettings
from voicecenter.store import Store, open_store
from voicecenter.store.models import OutboxMessage

ADA = Viewer("ada", "agent", "ada")
BOB = Viewer("bob", "agent", "bob")
SUPERVISOR = Viewer("sue", "supervisor")
QA = Viewer("quinn", "qa")


# -- visibility, event by event ------------------------------------------------
def test_an_agent_follows_an_interaction_from_assignment_to_its_end() -> None:
    tracker = AudienceTracker()
    assert tracker.audience("interaction.created", interaction_id="i1") == STAFF_ONLY
    assigned = tracker.audience("interaction.assigned", interaction_id="i1",
                                data={"agent": "ada"})
    assert ADA.sees(assigned) and not BOB.sees(assigned) and SUPERVISOR.sees(assigned)
    answered = tracker.audience("call.answered", interaction_id="i1")
    assert ADA.sees(answered) and not BOB.sees(answered)
    ended = tracker.audience("interaction.ended", interaction_id="i1")
    assert ADA.sees(ended)
    later = tracker.audience("media.stats", interaction_id="i1")
    assert not ADA.sees(later) and SUPERVISOR.sees(later)
    # Wrap-up comes after the end: it names the agent, so it still reaches them.
    wrap = tracker.audience("interaction.disposition_set", interaction_id="i1",
                            data={"agent": "ada", "disposition": "sale"})
    assert ADA.sees(wrap) and not BOB.sees(wrap)


def test_a_missed_offer_or_a_transfer_moves_the_interaction_to_the_other_agent() -> None:
    tracker = AudienceTracker()
    tracker.audience("interaction.assigned", interaction_id="i1", data={"agent": "ada"})
    missed = tracker.audience("interaction.offer_missed", interaction_id="i1",
                              data={"agent": "ada"})
    assert ADA.sees(missed)
    assert not ADA.sees(tracker.audience("dtmf.received", interaction_id="i1"))
    tracker.audience("interaction.assigned", interaction_id="i1", data={"agent": "bob"})
    started = tracker.audience("call.transfer_started", interaction_id="i1",
                               data={"from": "bob", "to": "ada", "kind": "blind"})
    assert ADA.sees(started) and BOB.sees(started)
    done = tracker.audience("call.transferred", interaction_id="i1",
                            data={"from": "bob", "to": "ada"})
    assert ADA.sees(done) and BOB.sees(done)
    after = tracker.audience("call.hold_started", interaction_id="i1")
    assert ADA.sees(after) and not BOB.sees(after)


def test_conference_and_consultation_bring_agents_in_and_out() -> None:
    tracker = AudienceTracker()
    tracker.audience("interaction.assigned", interaction_id="i1", data={"agent": "ada"})
    tracker.audience("call.conference_started", interaction_id="i1",
                     data={"agents": ["ada", "bob"]})
    assert BOB.sees(tracker.audience("dtmf.received", interaction_id="i1"))
    tracker.audience("call.conference_left", interaction_id="i1", data={"agent": "bob"})
    assert not BOB.sees(tracker.audience("dtmf.received", interaction_id="i1"))
    tracker.audience("call.transfer_started", interaction_id="i1",
                     data={"from": "ada", "to": "bob", "kind": "attended"})
    tracker.audience("call.transfer_cancelled", interaction_id="i1", data={"agent": "bob"})
    audience = tracker.audience("dtmf.received", interaction_id="i1")
    assert ADA.sees(audience) and not BOB.sees(audience)


def test_only_the_keys_that_name_agents_count() -> None:
    # A chat line's "from" is "system" or "customer": an agent named so sees nothing.
    tracker = AudienceTracker()
    system = Viewer("system", "agent", "system")
    tracker.audience("interaction.assigned", interaction_id="i1", data={"agent": "ada"})
    line = tracker.audience("chat.message_sent", interaction_id="i1",
                            data={"text": "You are now chatting with ada.", "from": "system"})
    assert ADA.sees(line) and not system.sees(line)
    flow = tracker.audience("flow.step", interaction_id="i2", data={"agent": "system"})
    assert not system.sees(flow)


def test_silent_monitoring_is_never_shown_to_the_agent() -> None:
    tracker = AudienceTracker()
    tracker.audience("interaction.assigned", interaction_id="i1", data={"agent": "ada"})
    listen = tracker.audience("call.supervision_started", interaction_id="i1",
                              data={"supervisor": "sue", "mode": "listen", "agent": "ada"})
    assert not ADA.sees(listen) and SUPERVISOR.sees(listen)
    stopped = tracker.audience("call.supervision_stopped", interaction_id="i1",
                               data={"agent": "sue", "reason": "hangup"})
    assert not ADA.sees(stopped)
    whisper = tracker.audience("call.supervision_started", interaction_id="i1",
                               data={"supervisor": "sue", "mode": "whisper", "agent": "ada"})
    assert ADA.sees(whisper)
    assert ADA.sees(tracker.audience("call.supervision_stopped", interaction_id="i1",
                                     data={"agent": "sue"}))


def test_agent_records_queue_figures_and_qa() -> None:
    tracker = AudienceTracker()
    own = tracker.audience("agent.updated", agent="ada", data={"name": "ada"})
    assert ADA.sees(own) and not BOB.sees(own) and SUPERVISOR.sees(own)
    figures = tracker.audience("queue.figures", data={"waiting": 3})
    assert figures == EVERY_AGENT and ADA.sees(figures) and BOB.sees(figures)
    assert not QA.sees(figures) and not QA.sees(own)
    assert Viewer("root", "admin").sees(STAFF_ONLY)
    assert tracker.audience("no.such.kind", interaction_id="i1") == STAFF_ONLY


# -- the feed against a real store ----------------------------------------------
@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    url = f"sqlite+aiosqlite:///{tmp_path}/vc.db"
    store = await open_store(Settings(store=StoreSettings(url=url)))
    yield store
    await store.close()


async def frames_of(subscriber: PageSubscriber, count: int,
                    timeout: float = 2.0) -> list[dict[str, Any]]:
    got: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while len(got) < count:
            frames, _ = await subscriber.take()
            got += [json.loads(text) for text in frames]
    return got


async def quiet(subscriber: PageSubscriber, seconds: float = 0.2) -> list[str]:
    await asyncio.sleep(seconds)
    taken = list(subscriber.frames)
    subscriber.frames.clear()
    return taken


async def conversation(store: Store, agent: str) -> str:
    """A chat handed to ``agent`` (3 events); its interaction id."""
    record = await store.interactions.create("chat", customer=f"customer of {agent}")
    await store.interactions.add_event(record.id, "interaction.assigned", {"agent": agent})
    await store.interactions.add_event(record.id, "chat.message_received",
                                       {"text": f"hello {agent}"})
    return record.id


async def test_pages_get_only_their_events_in_order_and_at_once(store: Store) -> None:
    await store.agents.add("ada", "pw-ada-1", {}, "127.0.0.1")
    feed = PageFeed(store, poll_interval=30.0)  # only the commit hook can wake it in time
    await feed.start()
    try:
        ada, _ = feed.attach(ADA, None)
        bob, _ = feed.attach(BOB, None)
        sue, _ = feed.attach(SUPERVISOR, None)
        qa, _ = feed.attach(QA, None)
        await store.agents.add("bob", "pw-bob-1", {}, "127.0.0.1")
        ada_chat = await conversation(store, "ada")
        await conversation(store, "bob")
        got_sue = await frames_of(sue, 7)
        assert [f["kind"] for f in got_sue] == [
            "agent.added", "interaction.created", "interaction.assigned",
            "chat.message_received", "interaction.created", "interaction.assigned",
            "chat.message_received"]
        assert [f["seq"] for f in got_sue] == sorted(f["seq"] for f in got_sue)
        got_ada = await frames_of(ada, 2)
        assert [(f["kind"], f["interaction_id"]) for f in got_ada] == [
            ("interaction.assigned", ada_chat), ("chat.message_received", ada_chat)]
        got_bob = await frames_of(bob, 3)
        assert [f["kind"] for f in got_bob] == [
            "agent.added", "interaction.assigned", "chat.message_received"]
        assert got_bob[0]["agent"] == "bob" and got_bob[1]["agent"] == "bob"
        assert all(f["interaction_id"] != ada_chat for f in got_bob)
        assert await quiet(ada) == [] and await quiet(qa, 0) == []
        assert got_ada[1]["data"] == {"text": "hello ada"} and got_ada[1]["at"]
    finally:
        await feed.stop()


async def test_resume_from_memory_and_from_the_table_gets_exactly_the_missed(
        store: Store) -> None:
    feed = PageFeed(store, ring_size=3, poll_interval=0.05)
    await feed.start()
    try:
        watcher, _ = feed.attach(SUPERVISOR, None)
        start = feed.last_seq
        for n in range(4):
            await conversation(store, "ada" if n % 2 == 0 else "bob")
        everything = await frames_of(watcher, 12)
        mine = [f for f in everything if f.get("agent") == "ada" or
                (f["kind"] == "chat.message_received" and "ada" in f["data"]["text"])]
        # Memory: the last 3 events are in the ring.
        _, plan = feed.attach(SUPERVISOR, everything[-4]["seq"])
        assert plan.reset is None and not plan.from_table
        assert [json.loads(f)["seq"] for f in plan.backlog] == [f["seq"] for f in everything[-3:]]
        # The table: from the start, for agent ada, filtered as it was live.
        _, plan = feed.attach(ADA, start)
        assert plan.reset is None and plan.from_table
        older = await feed.read_back(plan)
        assert older is not None
        resumed = [json.loads(f) for f in older + plan.backlog]
        assert [(f["seq"], f["kind"]) for f in resumed] == [(f["seq"], f["kind"]) for f in mine]
        assert json.loads(plan.hello)["seq"] == everything[-1]["seq"]
        # Up to date: nothing to send.
        _, plan = feed.attach(ADA, everything[-1]["seq"])
        assert plan.reset is None and plan.backlog == [] and plan.from_table == []
    finally:
        await feed.stop()


async def test_a_page_that_cannot_resume_exactly_gets_a_reset(store: Store) -> None:
    await conversation(store, "ada")  # before the feed started
    feed = PageFeed(store, ring_size=2, poll_interval=0.05)
    await feed.start()
    try:
        watcher, _ = feed.attach(SUPERVISOR, None)
        before = feed.floor
        await conversation(store, "ada")
        await conversation(store, "ada")
        got = await frames_of(watcher, 6)
        for since, why in ((before - 1, "before this server started"),
                           (got[-1]["seq"] + 10, "not one of this server's events")):
            _, plan = feed.attach(ADA, since)
            assert plan.reset is not None and why in json.loads(plan.reset)["reason"]
            assert json.loads(plan.reset)["seq"] == got[-1]["seq"]
        # Rows purged from the outbox: the table cannot give them back any more.
        _, plan = feed.attach(ADA, before)
        assert plan.from_table
        async with store.write() as session:
            await session.execute(delete(OutboxMessage).where(OutboxMessage.id <= got[2]["seq"]))
        assert await feed.read_back(plan) is None
    finally:
        await feed.stop()


async def test_a_slow_page_is_closed_and_does_not_hold_up_the_others(store: Store) -> None:
    feed = PageFeed(store, queue_limit=5, poll_interval=0.05)
    await feed.start()
    try:
        slow, _ = feed.attach(SUPERVISOR, None)
        fast, _ = feed.attach(Viewer("sam", "supervisor"), None)
        received: list[dict[str, Any]] = []
        for _ in range(4):
            await conversation(store, "ada")
            received += await frames_of(fast, 3)
        assert len(received) == 12 and slow.overflowed and slow.closed_reason == "too slow"
        assert feed.too_slow == 1
        feed.detach(slow)
        assert feed.pages == 1
    finally:
        await feed.stop()
    assert fast.closed_reason == "server stopping"
