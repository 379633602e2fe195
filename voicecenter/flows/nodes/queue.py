from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from ..context import CallEnded, FlowContext, QueueRequest
from .base import Node, Param
from .common import play, prompt_paths


class QueueNode(Node):
    """Hand the caller to the router and play hold prompts until an agent is found.

    Records interaction.queued on entry and interaction.dequeued when the
    caller leaves without an agent (timeout or hang-up); the router itself
    records the assignment. `agent` is taken with the agent's name in the
    `into` variable, `timeout` after max_wait_s.
    """

    type_name = "queue"
    params = {
        "queue": Param(str, required=True),
        "skills": Param(list, doc="default: the skills a segment node set"),
        "priority": Param((int, str), doc="default: the segment's priority"),
        "max_wait_s": Param((int, float), default=300),
        "announce": Param((str, list, dict), prompt=True, doc="played once on entry"),
        "hold_prompt": Param((str, list, dict), prompt=True, doc="played in a loop"),
        "into": Param(str, default="agent"),
    }
    transitions = ("agent", "timeout")
    time_limit = 3600.0
    takes_input = True  # it waits: a loop back through it is not a busy loop

    @classmethod
    def writes(cls, values: dict[str, Any]) -> set[str]:
        return {values["into"]}

    def request(self, ctx: FlowContext) -> QueueRequest:
        variables = ctx.variables
        skills = ctx.render_value(self["skills"]) if self["skills"] is not None \
            else variables.get("skills") or []
        raw_priority = self["priority"] if self["priority"] is not None \
            else variables.get("priority", 0)
        priority = ctx.render(str(raw_priority))
        return QueueRequest(
            call_id=ctx.call.call_id, queue=ctx.render(self["queue"]),
            skills=tuple(str(s) for s in skills if str(s)),
            priority=int(priority) if priority.lstrip("-").isdigit() else 0,
            segment=variables.get("segment"), language=variables.get("language"))

    async def execute(self, ctx: FlowContext) -> str:
        request = self.request(ctx)
        store, router = ctx.services.store, ctx.services.router
        facts = {"queue": request.queue, "skills": list(request.skills),
                 "priority": request.priority, "segment": request.segment}
        if store is not None:
            await store.interaction_event(ctx.call.call_id, "interaction.queued", facts,
                                          state="queued")
        await router.enqueue(request)
        began = time.monotonic()
        waiter = asyncio.ensure_future(router.wait_for_agent(request, self["max_wait_s"]))
        try:
            await play(ctx, self["announce"])
            agent = await self._hold(ctx, waiter)
        except CallEnded:
            await self._dequeued(ctx, request, facts, "abandoned", began)
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        if agent is None:
            await self._dequeued(ctx, request, facts, "timeout", began)
            return "timeout"
        await ctx.set(self.id, self["into"], agent)
        return "agent"

    async def _dequeued(self, ctx: FlowContext, request: QueueRequest, facts: dict[str, Any],
                        reason: str, began: float) -> None:
        await ctx.services.router.withdraw(request, reason)
        if ctx.services.store is not None:
            await ctx.services.store.interaction_event(
                ctx.call.call_id, "interaction.dequeued",
                {**facts, "reason": reason, "waited_s": round(time.monotonic() - began, 1)},
                state="active")

    async def _hold(self, ctx: FlowContext, waiter: asyncio.Future[str | None]) -> str | None:
        files = await prompt_paths(ctx, self["hold_prompt"])
        while not waiter.done():
            if not files:
                return await waiter
            playing = asyncio.ensure_future(ctx.call.play(files))
            await asyncio.wait({waiter, playing}, return_when=asyncio.FIRST_COMPLETED)
            if not playing.done():
                stop = getattr(ctx.call, "stop_play", None)
                if stop is not None:
                    await stop()
            await playing
        return waiter.result()
