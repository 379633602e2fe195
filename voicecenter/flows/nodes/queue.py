from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from ..context import CallEnded, FlowContext, QueueRequest
from .base import Node, Param
from .common import play, prompt_paths
from .queue_callback import CALLBACK, announcement, offer_callback


class QueueNode(Node):
    """Hand the caller to the router and play hold prompts until an agent is found.

    Records interaction.queued on entry and interaction.dequeued when the
    caller leaves without an agent (timeout or hang-up); the router itself
    records the assignment. `agent` is taken with the agent's name in the
    `into` variable, `timeout` after max_wait_s.

    With `announce_every_s`, the caller hears its position and estimated wait
    (from recent handle times) on entry and then every that many seconds,
    between stretches of the hold prompt. With `callback_key`, pressing it
    offers a callback: the caller confirms the caller ID (or types a number),
    hangs up, and the interaction keeps its place in the queue; `callback`
    is taken then.
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
        "announce_every_s": Param((int, float), default=0,
                                  doc="say position and estimated wait this often (0: never)"),
        "position_prompt": Param(str, default="You are number $position in the queue. "
                                 "Your estimated wait is $minutes minutes.",
                                 doc="text said with $position, $minutes and $seconds"),
        "callback_key": Param(str, choices=("0", "1", "2", "3", "4", "5", "6", "7", "8", "9",
                                            "*", "#"), doc="the key that asks for a callback"),
        "callback_offer": Param((str, list, dict), prompt=True,
                                doc="said with each announcement when callback_key is set"),
    }
    transitions = ("agent", "timeout", "callback")
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
            segment=variables.get("segment"), language=variables.get("language"),
            # Set by call_in: the agent who has the customer's conversation goes first.
            data={"preferred_agent": str(variables["preferred_agent"])}
            if variables.get("preferred_agent") else {})

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
            agent = await self._hold(ctx, request, waiter)
        except CallEnded:
            await self._dequeued(ctx, request, facts, "abandoned", began)
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await waiter
        if agent == CALLBACK:
            return "callback"
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

    async def _hold(self, ctx: FlowContext, request: QueueRequest,
                    waiter: asyncio.Future[str | None]) -> str | None:
        """Hold prompt, announcements and the callback key until an agent (or CALLBACK)."""
        files = await prompt_paths(ctx, self["hold_prompt"])
        every = float(self["announce_every_s"] or 0)
        key = self["callback_key"]
        loop = asyncio.get_running_loop()
        next_announce = loop.time() if every > 0 else None
        while not waiter.done():
            if next_announce is not None and loop.time() >= next_announce:
                next_announce = loop.time() + every
                spoken = await announcement(ctx, request, self["position_prompt"])
                spoken += await prompt_paths(ctx, self["callback_offer"]) if key else []
                if spoken:
                    heard = await self._play(ctx, spoken, waiter, None, bool(key))
                    if heard == "barge_in" and await self._pressed(ctx, request, key):
                        return CALLBACK
                    continue
            if not files and next_announce is None and not key:
                return await waiter
            heard = await self._play(ctx, files, waiter, next_announce, bool(key))
            if heard == "barge_in" and await self._pressed(ctx, request, key):
                return CALLBACK
        return waiter.result()

    async def _play(self, ctx: FlowContext, files: list[Any], waiter: asyncio.Future[Any],
                    until: float | None, barge_in: bool) -> str:
        """Play until done, a digit, an agent, or the loop time ``until``; which one."""
        loop = asyncio.get_running_loop()
        timeout = None if until is None else max(0.0, until - loop.time())
        if not files:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(waiter), 1.0 if timeout is None
                                       else min(timeout, 1.0))
            return "agent" if waiter.done() else "timer"
        playing = asyncio.ensure_future(ctx.call.play(files, barge_in=barge_in))
        await asyncio.wait({waiter, playing}, timeout=timeout,
                           return_when=asyncio.FIRST_COMPLETED)
        if not playing.done():
            stop = getattr(ctx.call, "stop_play", None)
            if stop is not None:
                await stop()
        reason = await playing
        return "agent" if waiter.done() else str(reason)

    async def _pressed(self, ctx: FlowContext, request: QueueRequest, key: str | None) -> bool:
        """A digit stopped the prompt: True once the caller has left for a callback."""
        typed = await ctx.call.collect(max_digits=1, timeout_ms=300, inter_digit_ms=300,
                                       terminator="")
        if key is None or typed.digits != key:
            return False
        return await offer_callback(ctx, request)
