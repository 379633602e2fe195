"""Agents' state changes leave the router as ``agent.state_changed`` events.

The router is pure and synchronous and changes states inside its decisions;
this collects each change as it happens and writes them in batches from one
task, so the desk and the wallboard see "alice: away (lunch)" as an event
instead of polling for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from typing import Any

from ..routing.model import Agent, AgentState
from ..store.database import Store

log = logging.getLogger("voicecenter.distribution")


class AgentStateEvents:
    def __init__(self, store: Store) -> None:
        self.store = store
        self._pending: list[dict[str, Any]] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def changed(self, agent: Agent, previous: AgentState) -> None:
        """The router's hook: note the change now, write it soon."""
        self._pending.append({"name": agent.id, "state": str(agent.state),
                              "previous": str(previous), "reason": agent.reason,
                              "at": datetime.now(UTC)})
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="agent-state-events")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._flush()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            try:
                await self._flush()
            except Exception:
                log.exception("agent state events not written; retrying")
                await asyncio.sleep(1.0)
                self._wake.set()

    async def _flush(self) -> None:
        batch, self._pending = self._pending, []
        if not batch:
            return
        try:
            await self.store.agents.record_states(batch)
        except BaseException:
            self._pending[:0] = batch  # kept for the next try, in order
            raise
