"""Callbacks that keep the caller's place in the queue.

A caller who presses the callback key hangs up, but its interaction stays
in the router's universal queue under the same id, so it keeps its place.
When the router assigns it, the agent is reserved and rung first (a free
agent is certain before the customer's phone rings), then the customer is
dialed from the same worker and bridged to the agent. A customer who does
not answer is tried again after ``retry_s``, still at the original place,
up to ``attempts`` times. Every callback is a row in the store, and on start
the pending ones are enqueued again with their original enqueue time, so a
restart of the server moves nobody back in the line.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from ..calls.session import CallSession
from ..flows.context import QueueRequest
from ..media.worker_link import CommandFailed, WorkerLink, WorkerUnavailable
from ..routing.decisions import Assign
from ..routing.errors import DuplicateId
from ..routing.model import Channel, Interaction
from ..store.callbacks import CALLING, CONNECTED, DONE, FAILED, PENDING, CallbackRecord
from ..store.errors import NoSuchInteraction
from ..store.models import utcnow
from .connect import ring_outcome

if TYPE_CHECKING:
    from ..media.pool import WorkerPool
    from ..settings import QueueSettings
    from .service import DistributionService

log = logging.getLogger("voicecenter.distribution.callbacks")


class DialFailed(Exception):
    """The dialed party did not answer (busy, no answer, unreachable)."""


class CallbackService:
    def __init__(self, distribution: DistributionService, pool: WorkerPool | None,
                 settings: QueueSettings) -> None:
        self.distribution = distribution
        self.pool = pool
        self.settings = settings
        self.store = distribution.store
        self.owned: dict[str, CallbackRecord] = {}  # router id -> its callback
        self.timers: dict[str, asyncio.TimerHandle] = {}

    # -- lifecycle ------------------------------------------------------------------
    async def start(self) -> None:
        """Re-enqueue what a previous run left pending, each at its original place."""
        for record in await self.store.callbacks.list((CONNECTED,)):
            # The conversation happened; the restart only cut it short.
            await self.store.callbacks.update(record.id, state=DONE,
                                              error="server restarted during the call")
        for record in await self.store.callbacks.open():
            if record.state == CALLING:  # the server stopped in the middle of an attempt
                record = await self.store.callbacks.update(record.id, state=PENDING)
            self._schedule(record)
        if self.owned:
            log.info("%d pending callbacks restored", len(self.owned))

    async def stop(self) -> None:
        for handle in self.timers.values():
            handle.cancel()
        self.timers.clear()

    def owns(self, router_id: str) -> bool:
        return router_id in self.owned

    # -- asking for a callback ------------------------------------------------------
    def uri_for(self, number: str) -> str:
        return f"sip:{number}@{self.settings.callback_dial_host}"

    async def keep_place(self, request: QueueRequest, number: str) -> CallbackRecord | None:
        """The waiting caller asked to be called back at ``number``; None when it is
        too late (an agent was already found), else the stored callback."""
        service = self.distribution
        it = service.router.queue.get(request.call_id)
        waiter = service.waiters.get(request.call_id)
        if it is None or waiter is None or waiter.outcome.done():
            return None
        service.waiters.pop(request.call_id, None)
        enqueued = utcnow() - timedelta(seconds=service.now() - it.enqueued_at)
        caller = service.voice.by_id.get(request.call_id)
        record = await self.store.callbacks.add(
            router_id=request.call_id, number=number, uri=self.uri_for(number),
            queue=request.queue, skills=list(request.skills), priority=request.priority,
            enqueued_at=enqueued, origin=caller.interaction_id if caller else None)
        self.owned[record.router_id] = record
        if caller is not None:
            await caller.record_event("callback.requested", {
                "callback": record.id, "number": number,
                "position": service.router.queue.position(request.call_id)})
        return record

    async def schedule(self, number: str, at: datetime | None, skills: list[str],
                       queue: str = "callbacks", priority: int = 0) -> CallbackRecord:
        """A callback asked for through the API: routed from ``at`` (now if None)."""
        now = utcnow()
        due = at if at is not None and at > now else None
        record = await self.store.callbacks.add(
            router_id=f"callback-{uuid.uuid4().hex[:12]}", number=number,
            uri=self.uri_for(number), queue=queue, skills=skills, priority=priority,
            enqueued_at=at or now, due_at=due)
        self._schedule(record)
        return record

    # -- into the router --------------------------------------------------------------
    def _schedule(self, record: CallbackRecord) -> None:
        self.owned[record.router_id] = record
        delay = 0.0
        if record.due_at is not None:
            delay = max(0.0, (record.due_at - utcnow()).total_seconds())
        loop = asyncio.get_running_loop()
        self.timers[record.router_id] = loop.call_later(delay, self._enqueue, record.router_id)

    def _enqueue(self, router_id: str) -> None:
        self.timers.pop(router_id, None)
        record = self.owned.get(router_id)
        service = self.distribution
        if record is None or router_id in service.router.queue:
            return
        now = service.now()
        waited = max(0.0, (utcnow() - record.enqueued_at).total_seconds())
        it = Interaction(id=router_id, channel=Channel.VOICE,
                         skills=dict.fromkeys(record.skills, 1), priority=record.priority,
                         enqueued_at=now - waited)
        try:
            service.router.enqueue(it, now=now)
        except DuplicateId:  # already offered or connected: nothing to restore
            return
        service.figures.queued(router_id, record.queue, record.skills, at=it.enqueued_at)
        service.wake.set()

    # -- the router assigned it: agent first, then the customer ---------------------
    async def offer(self, decision: Assign) -> None:
        router_id, agent = decision.interaction_id, decision.agent_id
        service = self.distribution
        record = await self.store.callbacks.update(self.owned[router_id].id, state=CALLING,
                                                   agent=agent)
        self.owned[router_id] = record
        link = self._link()
        if link is None:
            await self._missed(decision, "no media worker has room")
            return
        try:
            agent_leg = await self._dial(link, f"sip:{agent}@{service.edge}", record, agent,
                                         service.ring_timeout_s)
        except Exception as exc:  # DialFailed, or the store refusing the leg
            log.info("callback %s: agent %s did not answer: %s", record.id, agent, exc)
            await self._missed(decision, str(exc))
            return
        service.router.offer_accepted(router_id, service.now())
        record = self.owned[router_id]  # now with the interaction the agent's leg opened
        try:
            customer = await self._dial(link, record.uri, record, None,
                                        self.settings.callback_ring_timeout_s)
        except Exception as exc:  # DialFailed, or the store refusing the leg
            with contextlib.suppress(Exception):
                await agent_leg.hangup()
            service.router.agent_released(agent, router_id, service.now())
            service.wake.set()
            await self._attempt_failed(record, agent_leg, str(exc))
            return
        service.figures.answered(router_id)
        await self._converse(record, agent, customer, agent_leg)

    async def _missed(self, decision: Assign, reason: str) -> None:
        service = self.distribution
        record = self.owned[decision.interaction_id]
        self.owned[decision.interaction_id] = await self.store.callbacks.update(
            record.id, state=PENDING, agent=None)
        service.router.offer_missed(decision.interaction_id, decision.agent_id, service.now())
        service.wake.set()

    async def _attempt_failed(self, record: CallbackRecord, leg: CallSession,
                              reason: str) -> None:
        attempts = record.attempts + 1
        if attempts >= self.settings.callback_attempts:
            record = await self.store.callbacks.update(record.id, state=FAILED,
                                                       attempts=attempts, error=reason)
            self.owned.pop(record.router_id, None)
            self.distribution.figures.left(record.router_id, "failed")
            await leg.record_event("callback.failed", {"callback": record.id,
                                                       "attempts": attempts})
            return
        retry = self.settings.callback_retry_s
        due = utcnow() + timedelta(seconds=retry)
        record = await self.store.callbacks.update(record.id, state=PENDING, attempts=attempts,
                                                   error=reason, due_at=due, agent=None)
        await leg.record_event("callback.attempt_failed", {
            "callback": record.id, "attempt": attempts, "reason": reason, "retry_in_s": retry})
        self._schedule(record)

    async def _converse(self, record: CallbackRecord, agent: str, customer: CallSession,
                        agent_leg: CallSession) -> None:
        """Customer and agent become a conversation like any other (hold, transfer,
        supervision, stereo recording), kept under the callback's router id."""
        service = self.distribution
        self.owned[record.router_id] = await self.store.callbacks.update(
            record.id, state=CONNECTED, attempts=record.attempts + 1)
        try:
            await customer.record_event("callback.connected", {"callback": record.id,
                                                               "agent": agent})
            conversation = await service.connect_outside_routing(
                customer, agent, agent_leg, routed_as=record.router_id, callback=record.id)
            await conversation.over.wait()
        except (CommandFailed, WorkerUnavailable) as exc:
            # The conversation is already kept (adopted before the bridge): ending its
            # legs ends it, which releases the agent through the router.
            log.error("callback %s not bridged: %s", record.id, exc)
            for session in (customer, agent_leg):
                with contextlib.suppress(Exception):
                    await session.hangup()
        finally:
            self.owned.pop(record.router_id, None)
            await self.store.callbacks.update(record.id, state=DONE)

    # -- dialing ------------------------------------------------------------------------
    def _link(self) -> WorkerLink | None:
        """The ready worker with the most room for two more legs."""
        if self.pool is None:
            return None
        sessions = self.distribution.voice.sessions
        best: tuple[int, WorkerLink] | None = None
        for slot in self.pool.slots:
            link = slot.link
            if link is None or not slot.ready.is_set():
                continue
            room = slot.capacity - sum(1 for w, _ in sessions if w == slot.index)
            if room >= 2 and (best is None or room > best[0]):
                best = (room, link)
        return best[1] if best else None

    async def _open(self, interaction_id: str) -> bool:
        try:
            return (await self.store.interactions.get(interaction_id)).state != "ended"
        except NoSuchInteraction:
            return False

    async def _dial(self, link: WorkerLink, uri: str, record: CallbackRecord,
                    agent: str | None, ring_timeout_s: float) -> CallSession:
        voice = self.distribution.voice
        if record.interaction_id is not None and not await self._open(record.interaction_id):
            # The last attempt's interaction ended with its calls: this one starts another.
            record = await self.store.callbacks.update(record.id, interaction_id=None)
        info: dict[str, Any] = {"callback": record.id}
        if agent:
            info["agent"] = agent
        try:
            leg = await voice.dial_leg(
                link, uri, interaction_id=record.interaction_id,
                called_number=agent or record.number,
                headers={"X-Voicecenter-Callback": str(record.id)}, info=info)
        except (CommandFailed, WorkerUnavailable) as exc:
            raise DialFailed(f"cannot dial {uri}: {exc}") from exc
        if record.interaction_id is None:
            record = await self.store.callbacks.update(record.id,
                                                       interaction_id=leg.interaction_id)
            self.owned[record.router_id] = record
            await self.store.interactions.attach(leg.interaction_id, {
                "callback": record.id, "callback_number": record.number,
                "callback_of": record.origin})
        reason = await ring_outcome(leg, ring_timeout_s)
        if reason is None:
            return leg
        raise DialFailed(reason)


def parse_when(value: Any) -> datetime | None:
    """An ISO 8601 time with a zone (or None); naive times are refused, not guessed."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError("at must be an ISO 8601 string")
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError("at needs a time zone (e.g. 2026-11-23T15:00:00Z)")
    return when.astimezone(UTC)


async def start_queue_services(distribution: DistributionService, pool: WorkerPool | None,
                               settings: QueueSettings,
                               stack: contextlib.AsyncExitStack) -> CallbackService:
    """Figures on MQTT and callbacks, wired to the routing service; stopped by ``stack``."""
    from .figures import FiguresPublisher

    figures = distribution.figures
    figures.service_level_s = settings.service_level_s
    figures.window_s = settings.figures_window_s
    figures.default_handle_s = settings.default_handle_s
    publisher = FiguresPublisher(distribution.store, figures, settings.figures_period_s)
    await publisher.start()
    stack.push_async_callback(publisher.stop)
    callbacks = CallbackService(distribution, pool, settings)
    distribution.callbacks = callbacks
    await callbacks.start()
    stack.push_async_callback(callbacks.stop)
    return callbacks
