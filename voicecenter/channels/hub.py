"""Text conversations: lines both ways, flows, routing to agents, the end.

One hub serves chat and SMS. A transport per channel carries lines to the
customer (chat: the visitor's WebSockets; SMS: the provider); the agents'
WebSockets are the AgentDesk. The hub is also the flows' Router for text:
it queues the interaction on the shared router with its own channel, so
chat capacity, not voice, is what an agent spends on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..flows.context import FlowContext, FlowServices, QueueRequest
from ..flows.runner import run_flow
from ..flows.runtime import FlowRuntime, Picked
from ..routing.decisions import Assign
from ..routing.model import Channel, Interaction
from ..store import Store
from .agents import AgentDesk
from .conversation import AGENT, BOT, CUSTOMER, SYSTEM, Conversation, Line
from .flow_glue import TextFlowStore
from .text_call import TextCall, TextPrompts
from .timeline import TimelineWriter

if TYPE_CHECKING:
    from ..distribution.service import DistributionService
    from ..store.customers_identity import IdentityRepository
    from .call_in import CallInCodes

log = logging.getLogger("voicecenter.channels")

Deliver = Callable[[Conversation, Line], Awaitable[None]]
RECEIVED = {"chat": "chat.message_received", "sms": "sms.received"}
SENT = {"chat": "chat.message_sent", "sms": "sms.sent"}
IDENTITY_KIND = {"chat": "chat", "sms": "phone"}


@dataclass
class HubConfig:
    input_timeout_s: float = 120.0  # a flow waits this long for a typed answer
    offer_timeout_s: float = 20.0  # an agent accepts an offer within this
    idle_timeout_s: dict[str, float] = field(default_factory=lambda: {"sms": 3600.0})
    max_wait_s: float = 600.0  # without a flow: how long a conversation waits for an agent
    entry_points: dict[str, str] = field(default_factory=dict)  # channel -> flow


class ConversationHub:
    def __init__(self, store: Store, runtime: FlowRuntime | None,
                 distribution: DistributionService | None, config: HubConfig | None = None,
                 identities: IdentityRepository | None = None) -> None:
        self.store = store
        self.runtime = runtime
        self.distribution = distribution
        self.config = config or HubConfig()
        self.identities = identities
        self.writer = TimelineWriter(store)
        self.flow_store = TextFlowStore(store, self.writer)
        self.prompts = TextPrompts()
        self.desk = AgentDesk(self)
        self.conversations: dict[str, Conversation] = {}
        self.by_address: dict[tuple[str, str], str] = {}
        self.transports: dict[str, Deliver] = {}
        self.waiters: dict[str, asyncio.Future[str | None]] = {}
        self.offers: dict[str, asyncio.Future[bool]] = {}
        self._reaper: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        # Set when a voice service can call the customer (escalation to a call).
        self.escalate: Callable[[Conversation, str, Any], Awaitable[None]] | None = None
        # Codes customers call in with to reach their agent (sms.call_in_number set).
        self.call_in: CallInCodes | None = None

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        self.writer.start()
        if self.distribution is not None:
            self.distribution.digital_offer = self.on_assign
        self._reaper = asyncio.create_task(self._reap(), name="text-idle")

    async def stop(self) -> None:
        for conversation in list(self.conversations.values()):
            if conversation.flow_task is not None:
                conversation.flow_task.cancel()
        tasks = [c.flow_task for c in self.conversations.values() if c.flow_task]
        for task in [self._reaper, *self._tasks]:
            if task is not None:
                task.cancel()
                tasks.append(task)
        await asyncio.gather(*tasks, return_exceptions=True)
        await self.writer.stop()

    def spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- conversations ------------------------------------------------------
    def find(self, channel: str, address: str) -> Conversation | None:
        found = self.by_address.get((channel, address))
        return self.conversations.get(found) if found else None

    async def open(self, channel: str, address: str) -> Conversation:
        """The customer's live conversation on this channel, or a new one."""
        current = self.find(channel, address)
        if current is not None and not current.ended:
            return current
        customer = None
        if self.identities is not None:
            customer = await self.identities.resolve(IDENTITY_KIND[channel], address)
        record = await self.store.interactions.create(
            channel, customer=customer, attached={"address": address})
        conversation = Conversation(record.id, channel, address, customer)
        self.conversations[record.id] = conversation
        self.by_address[(channel, address)] = record.id
        picked = self._pick(channel)
        if picked is not None:
            conversation.flow_task = asyncio.create_task(
                self._run_flow(conversation, picked), name=f"text-flow-{record.id}")
        else:
            await self.enqueue(QueueRequest(record.id, "default", (), 0))
            self.spawn(self._wait_unflowed(conversation))
        return conversation

    def _pick(self, channel: str) -> Picked | None:
        """The channel's flow and the snapshot of all flows it runs on (hot reload safe)."""
        name = self.config.entry_points.get(channel)
        if self.runtime is None or not name:
            return None
        flows = self.runtime.registry.snapshot()
        flow = flows.get(name)
        return Picked(flow, flows) if flow is not None else None

    async def from_customer(self, conversation: Conversation, text: str,
                            client_id: str | None = None, to_flow: bool = True) -> Line:
        """A line typed or texted by the customer; a resent one is kept once.

        With to_flow False a running flow does not take it as an answer (the
        text that opened an SMS conversation answers nothing yet).
        """
        if client_id and client_id in conversation.client_ids:
            return conversation.lines[conversation.client_ids[client_id] - 1]
        line = conversation.add(CUSTOMER, text)
        if client_id:
            conversation.client_ids[client_id] = line.seq
        self.writer.add(conversation.id, RECEIVED[conversation.channel],
                        {"seq": line.seq, "text": text})
        if conversation.agent:
            await self.desk.push(conversation.agent, {**line.to_dict(),
                                                      "conversation": conversation.id})
        elif conversation.call is not None and to_flow:
            conversation.call.inbox.put_nowait(text)
        await self._notify(conversation, line, skip_customer=True)
        return line

    async def say(self, conversation: Conversation, sender: str, text: str,
                  agent: str | None = None,
                  quick_replies: list[dict[str, str]] | None = None) -> Line:
        """A line to the customer from the flow (bot), an agent or the system."""
        line = conversation.add(sender, text, agent, quick_replies)
        data: dict[str, Any] = {"seq": line.seq, "text": text, "from": sender}
        if agent:
            data["agent"] = agent
        self.writer.add(conversation.id, SENT[conversation.channel], data)
        await self._notify(conversation, line)
        return line

    async def _notify(self, conversation: Conversation, line: Line,
                      skip_customer: bool = False) -> None:
        frame = line.to_dict()
        if not skip_customer:
            deliver = self.transports.get(conversation.channel)
            if deliver is not None:
                await deliver(conversation, line)
            for listener in list(conversation.listeners):
                with contextlib.suppress(Exception):
                    await listener(frame)

    async def typing(self, conversation: Conversation, sender: str, on: bool) -> None:
        """Typing indicators go to the other side only; they are not stored."""
        frame = {"type": "typing", "from": sender, "on": on, "conversation": conversation.id}
        if sender == CUSTOMER:
            if conversation.agent:
                await self.desk.push(conversation.agent, frame)
            return
        for listener in list(conversation.listeners):
            with contextlib.suppress(Exception):
                await listener(frame)

    async def end(self, conversation: Conversation, reason: str) -> None:
        if conversation.ended:
            return
        conversation.ended = True
        if conversation.call is not None:
            await conversation.call.hangup()
        if conversation.flow_task is not None and \
                conversation.flow_task is not asyncio.current_task():
            conversation.flow_task.cancel()
        self.waiters.pop(conversation.id, None)
        self._withdraw(conversation.id)
        self.by_address.pop((conversation.channel, conversation.address), None)
        # Stored before anyone is told, so a client that saw "ended" reads it all.
        await self.writer.flush()
        with contextlib.suppress(Exception):
            await self.store.interactions.end(conversation.id, reason)
        for listener in list(conversation.listeners):
            with contextlib.suppress(Exception):
                await listener({"type": "ended", "reason": reason})
        if conversation.agent:
            await self.desk.push(conversation.agent, {"type": "ended", "reason": reason,
                                                      "conversation": conversation.id})
            self._release(conversation)

    def _release(self, conversation: Conversation) -> None:
        dist = self.distribution
        if dist is None or conversation.agent is None:
            return
        with contextlib.suppress(Exception):
            dist.router.agent_released(conversation.agent, conversation.id, dist.now())
        dist.wake.set()

    async def _reap(self) -> None:
        """End conversations idle past their channel's timeout (SMS threads)."""
        while True:
            await asyncio.sleep(1.0)
            now = time.monotonic()
            for conversation in list(self.conversations.values()):
                limit = self.config.idle_timeout_s.get(conversation.channel)
                if conversation.ended:
                    if now - conversation.last_activity > 60:
                        self.conversations.pop(conversation.id, None)
                elif limit and now - conversation.last_activity > limit:
                    await self.end(conversation, "inactive")

    # -- flows ----------------------------------------------------------------
    async def _run_flow(self, conversation: Conversation, picked: Picked) -> None:
        async def send(text: str, quick_replies: list[dict[str, str]] | None) -> None:
            await self.say(conversation, BOT, text, quick_replies=quick_replies)

        async def record(kind: str, data: dict[str, Any]) -> None:
            self.writer.add(conversation.id, kind, data)
            if kind == "customer.authenticated":
                await self._authenticated(conversation, data)

        call = TextCall(conversation.id, send, record, self.prompts,
                        self.config.input_timeout_s)
        conversation.call = call
        services = FlowServices(**{**vars(self.runtime.services), "flows": picked.flows,
                                   "store": self.flow_store, "router": self,
                                   "prompts": self.prompts})  # type: ignore[union-attr]
        variables: dict[str, Any] = {"call_id": conversation.id,
                                     "caller_id": conversation.address,
                                     "called_number": conversation.channel,
                                     "channel": conversation.channel}
        variables.setdefault("language", picked.flow.variables.get("language", "en"))
        ctx = FlowContext(call=call, sounds=self.runtime.sounds,  # type: ignore[union-attr]
                          services=services, variables=variables)
        try:
            outcome = await run_flow(picked.flow, ctx)
        finally:
            conversation.call = None
        # A flow that ends without handing over to an agent ends the conversation.
        if not conversation.agent and not conversation.ended:
            await self.end(conversation, f"flow {outcome}")

    async def _authenticated(self, conversation: Conversation, data: dict[str, Any]) -> None:
        """A flow proved who the customer is: their identities become one profile."""
        if self.identities is None or not data.get("account"):
            return
        profile = await self.identities.link(conversation.customer, "account",
                                             str(data["account"]))
        conversation.customer = profile
        await self.writer.flush()
        await self.identities.claim(conversation.id, profile)

    async def _wait_unflowed(self, conversation: Conversation) -> None:
        agent = await self.wait_for_agent(QueueRequest(conversation.id, "default", (), 0),
                                          self.config.max_wait_s)
        if agent is None and not conversation.ended:
            await self.say(conversation, SYSTEM, "No agent is free right now; please try later.")
            await self.end(conversation, "no-agent")

    # -- the flows' Router protocol, for text -------------------------------
    async def enqueue(self, request: QueueRequest) -> None:
        conversation = self.conversations.get(request.call_id)
        dist = self.distribution
        if conversation is None or dist is None:
            return
        loop = asyncio.get_running_loop()
        self.waiters[request.call_id] = loop.create_future()
        dist.router.enqueue(Interaction(
            id=request.call_id, channel=Channel(conversation.channel),
            skills=dict.fromkeys(request.skills, 1), priority=request.priority,
            segment=request.segment, enqueued_at=dist.now()))
        dist.wake.set()

    async def wait_for_agent(self, request: QueueRequest, timeout_s: float) -> str | None:
        waiter = self.waiters.get(request.call_id)
        if waiter is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(waiter), timeout_s)
        except TimeoutError:
            return None

    async def withdraw(self, request: QueueRequest, reason: str) -> None:
        self.waiters.pop(request.call_id, None)
        self._withdraw(request.call_id)

    def _withdraw(self, interaction_id: str) -> None:
        dist = self.distribution
        if dist is not None:
            with contextlib.suppress(Exception):
                dist.router.remove(interaction_id)

    # -- offers ---------------------------------------------------------------
    async def on_assign(self, decision: Assign) -> None:
        """The router chose an agent: offer over the agent's WebSocket, await accept."""
        dist = self.distribution
        assert dist is not None
        iid, agent = decision.interaction_id, decision.agent_id
        conversation = self.conversations.get(iid)
        if conversation is None or conversation.ended or iid not in self.waiters:
            dist.router.agent_released(agent, iid, dist.now())
            dist.wake.set()
            return
        self.writer.add(iid, "interaction.assigned",
                        {"agent": agent, "why": decision.reason.to_dict()})
        accepted = asyncio.get_running_loop().create_future()
        self.offers[iid] = accepted
        offered = await self.desk.push(agent, {
            "type": "offer", **conversation.summary(),
            "lines": [line.to_dict() for line in conversation.lines]})
        try:
            ok = offered and await asyncio.wait_for(accepted, self.config.offer_timeout_s)
        except TimeoutError:
            ok = False
        finally:
            self.offers.pop(iid, None)
        if not ok or conversation.ended:
            self.writer.add(iid, "interaction.offer_missed",
                            {"agent": agent, "reason": "declined or not answered"})
            if conversation.ended:
                dist.router.agent_released(agent, iid, dist.now())
            else:
                dist.router.offer_missed(iid, agent, dist.now())
            dist.wake.set()
            return
        dist.router.offer_accepted(iid, dist.now())
        conversation.agent = agent
        waiter = self.waiters.pop(iid, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(agent)
        await self.say(conversation, SYSTEM, f"You are now chatting with {agent}.")
        # Lines typed while the offer rang were not pushed: the agent gets them all now.
        await self.desk.push(agent, {"type": "assigned", **conversation.summary(),
                                     "lines": [line.to_dict() for line in conversation.lines]})
        if conversation.call is not None:
            await conversation.call.stop_play()

    async def from_agent(self, agent: str, conversation: Conversation, text: str) -> Line:
        return await self.say(conversation, AGENT, text, agent=agent)
