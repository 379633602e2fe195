"""The call journal backed by the store (and through its outbox, MQTT)."""

from __future__ import annotations

import logging
from typing import Any

from ..store import Store
from ..store.errors import InvalidState, NoSuchCall

log = logging.getLogger("voicecenter.calls")


class StoreJournal:
    def __init__(self, store: Store) -> None:
        self.store = store

    async def created(self, call_id: str, worker_id: int, info: dict[str, Any]) -> str:
        """Record a new call leg; the interaction it belongs to (new for inbound callers)."""
        record = await self.store.calls.create_call(
            call_id=call_id,
            direction=info.get("direction", "inbound"),
            interaction_id=info.get("interaction_id"),
            from_uri=info["from"],
            to_uri=info["to"],
            called_number=info.get("called_number"),
            sip_call_id=info.get("sip_call_id"),
            worker_id=worker_id,
            flow=info.get("flow"),
        )
        return record.interaction_id

    async def event(self, call_id: str, kind: str, data: dict[str, Any]) -> None:
        try:
            await self.store.calls.add_event(call_id, kind, data)
        except NoSuchCall:
            log.error("call=%s event %s for a call the store does not know", call_id, kind)
        except ValueError as exc:  # an event kind without a topic: a bug, not the call's end
            log.error("call=%s event %s not recorded: %s", call_id, kind, exc)

    async def answered(self, call_id: str) -> None:
        try:
            await self.store.calls.mark_answered(call_id)
        except InvalidState:
            log.info("call=%s answered after it ended", call_id)

    async def ended(self, call_id: str, reason: str) -> None:
        try:
            await self.store.calls.end_call(call_id, reason)
        except NoSuchCall:
            log.error("call=%s ended but the store does not know it", call_id)

    async def ended_on_worker(self, worker_id: int, reason: str) -> list[str]:
        return await self.store.calls.end_calls_of_worker(worker_id, reason)

    async def close_stale(self, reason: str) -> int:
        """End calls a previous run left open (it crashed or was killed)."""
        stale = await self.store.calls.live()
        for call in stale:
            await self.store.calls.end_call(call.id, reason)
        return len(stale)
