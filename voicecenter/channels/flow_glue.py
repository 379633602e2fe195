"""What a flow on a text conversation writes to: the interaction itself.

On a call, flows name their call and the store finds its interaction; a
text conversation is the interaction, so its id is used directly. Writes
wait for the queued timeline lines first, so the timeline keeps its order.
"""

from __future__ import annotations

import logging
from typing import Any

from ..flows.backends import StoreFlowStore
from ..flows.context import AuthResult
from ..store import Store
from ..store.errors import InvalidState, NotFound
from .timeline import TimelineWriter

log = logging.getLogger("voicecenter.channels")

class TextFlowStore:
    def __init__(self, store: Store, writer: TimelineWriter) -> None:
        self.store = store
        self.writer = writer
        self.customers = StoreFlowStore(store)

    async def attach(self, call_id: str, data: dict[str, Any]) -> None:
        await self.writer.flush()
        await self.store.interactions.attach(call_id, data)

    async def interaction_event(self, call_id: str, kind: str, data: dict[str, Any],
                                state: str | None = None) -> None:
        await self.writer.flush()
        try:
            if state is not None:
                await self.store.interactions.set_state(call_id, state, kind, data)
            else:
                await self.store.interactions.add_event(call_id, kind, data)
        except (InvalidState, NotFound) as exc:
            log.info("conversation=%s %s not recorded: %s", call_id, kind, exc)

    async def authenticate(self, account: str, pin: str, *, max_failures: int,
                           lockout_s: int) -> AuthResult:
        return await self.customers.authenticate(account, pin, max_failures=max_failures,
                                                 lockout_s=lockout_s)

    async def customer_by_caller_id(self, caller_id: str) -> dict[str, Any] | None:
        return await self.customers.customer_by_caller_id(caller_id)
