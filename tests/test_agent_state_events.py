"""Agents' state changes become agent.state_changed events for pages and MQTT."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from voicecenter.distribution.service import DistributionService
from voicecenter.settings import Settings, StoreSettings
from voicecenter.store import open_store


async def test_each_change_is_one_event_with_previous_state_and_reason(tmp_path: Path) -> None:
    store = await open_store(Settings(store=StoreSettings(
        url=f"sqlite+aiosqlite:///{tmp_path / 'vc.db'}")))
    await store.agents.add("alice", "pw", {"sales": 3}, "127.0.0.1")
    distribution = DistributionService(store, None, "", tmp_path)  # type: ignore[arg-type]
    await distribution.start()
    try:
        await distribution.set_agent_state("alice", "available")
        await distribution.set_agent_state("alice", "away", "lunch")
        await distribution.set_agent_state("alice", "away", "lunch")  # no change: no event
        for _ in range(50):
            rows = [json.loads(r.payload) for r in await store.outbox.all()]
            changes = [r for r in rows if r["kind"] == "agent.state_changed"]
            if len(changes) >= 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await distribution.stop()
        await store.close()
    assert [c["data"] for c in changes] == [
        {"name": "alice", "state": "available", "previous": "offline", "reason": None},
        {"name": "alice", "state": "away", "previous": "available", "reason": "lunch"}]
    topics = {r.topic for r in await (await open_store(Settings(store=StoreSettings(
        url=f"sqlite+aiosqlite:///{tmp_path / 'vc.db'}")))).outbox.all()}
    assert "voicecenter/agents/alice/state/changed" in topics
