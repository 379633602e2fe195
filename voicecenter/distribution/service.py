"""The routing service: the pure router, with time, agents from the store and calls.

The router decides; this service tells it what happened (a caller queued,
an agent's state changed, an offer was missed), asks it for decisions when
something changed or a deadline is due, and carries them out: an Assign
rings the agent from the caller's worker and bridges them, an Overflow sends
the waiting flow on to its overflow branch. Every decision, with the
router's explanation, lands on the interaction's timeline.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..calls.service import VoiceService
from ..calls.session import CallSession
from ..flows.context import QueueRequest
from ..media.worker_link import CommandFailed, WorkerUnavailable
from ..recordings.stereo import RecordingError, compress, merge_stereo
from ..routing.config import RouterConfig
from ..routing.decisions import Assign, Overflow
from ..routing.errors import UnknownAgent
from ..routing.model import Agent, AgentState, Channel, Interaction
from ..routing.router import Router
from ..store import Store
from ..store.errors import NoSuchAgent
from .agent_states import AgentStateEvents
from .connect import (
    AgentNotAvailable,
    Conversation,
    NotConnected,
    OfferFailed,
    bridge,
    dial_agent,
    hold,
    record_leg,
    record_sides,
    resume,
    stop_recordings,
    swap_leg,
    wait_either_ends,
)
from .dialplan import DialPlan
from .figures import QueueFigures
from .phone_transfer import PhoneTransfers
from .wrapup import WrapUps

if TYPE_CHECKING:
    from .desk_offers import DeskOffers

log = logging.getLogger("voicecenter.distribution")

# Answers that mean the agent has no reachable phone (not registered, gone).
_PHONE_UNREACHABLE = frozenset({404, 408, 410, 480})


@dataclass
class Waiter:
    """A queued caller's flow, waiting for the outcome of its place in the queue."""

    request: QueueRequest
    outcome: asyncio.Future[str | None] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future())


class AgentBusy(Exception):
    """The agent holds work, so routing cannot take new skills for them now (409)."""


class DistributionService:
    def __init__(self, store: Store, voice: VoiceService, edge: str, recordings: Path,
                 config: RouterConfig | None = None, ring_timeout_s: float = 20.0,
                 wrap_up: bool = False, wrap_up_s: float = 0.0,
                 dispositions: list[str] | None = None) -> None:
        self.store = store
        self.voice = voice
        self.edge = edge
        self.recordings = recordings
        self.router = Router(config or RouterConfig())
        self.ring_timeout_s = ring_timeout_s
        self.wrap_up = wrap_up
        self.waiters: dict[str, Waiter] = {}
        self.conversations: dict[str, Conversation] = {}
        self.wake = asyncio.Event()
        self.state_events: AgentStateEvents | None = None
        self.tasks: set[asyncio.Task[Any]] = set()
        self.loop_task: asyncio.Task[None] | None = None
        self.started = time.monotonic()
        self.wrapups = WrapUps(self.router, self.now, self.wake, wrap_up_s, dispositions or [])
        # ffmpeg codec for a compressed copy of each merged recording (None: WAV only).
        self.compress_codec: str | None = None
        # Post-call transcription of each merged recording (set by the server).
        self.transcription: Any = None
        # Carries out assignments of chats and SMS (set by the text channels).
        self.digital_offer: Callable[[Assign], Awaitable[None]] | None = None
        self.figures = QueueFigures(self.router, self.now)
        # Set by the server when callbacks are on (distribution/callbacks.py).
        self.callbacks: Any = None
        # Tells agents' desks of voice offers and their outcome (desk_offers.py).
        self.desk: DeskOffers | None = None
        # Transfers asked for by agents' own softphones (REFER), reported by the
        # workers; set up by the server with the dial plan (enable_phone_transfers).
        self.phone_transfers: PhoneTransfers | None = None
        # Each agent's capacity per channel (routing.chat_capacity, sms_capacity).
        self.agent_capacity: dict[str, int] | None = None

    def now(self) -> float:
        return time.monotonic() - self.started

    def enable_phone_transfers(self, music: Path, dialplan: DialPlan) -> None:
        self.phone_transfers = PhoneTransfers(self, music)
        self.phone_transfers.dialplan = dialplan
        self.voice.on_refer = self.phone_transfers.requested

    # -- lifecycle --------------------------------------------------------
    async def start(self) -> None:
        for record in await self.store.agents.list():
            self.router.add_agent(self._agent(record.name, record.skills, record.team))
        self.state_events = AgentStateEvents(self.store)
        self.router.on_state_change = self.state_events.changed
        self.state_events.start()
        self.loop_task = asyncio.create_task(self._loop(), name="distribution")

    async def stop(self) -> None:
        self.wrapups.close()
        if self.state_events is not None:
            self.router.on_state_change = None
            await self.state_events.stop()
        if self.loop_task is not None:
            self.loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.loop_task
        for task in list(self.tasks):
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)

    # -- agents -----------------------------------------------------------
    async def set_agent_state(self, name: str, state: str, reason: str | None = None) -> Agent:
        await self.ensure_agent(name)
        agent = self.router.set_agent_state(name, AgentState(state), self.now(), reason)
        self.wake.set()
        return agent

    async def ensure_agent(self, name: str) -> Agent:
        """The router's agent; one added to the store since start joins now."""
        try:
            return self.router.agent(name)
        except UnknownAgent:
            record = await self.store.agents.get(name)  # NoSuchAgent for strangers
            return self.router.add_agent(self._agent(record.name, record.skills, record.team))

    def _agent(self, name: str, skills: dict[str, int], team: str | None = None) -> Agent:
        if self.agent_capacity is None:
            return Agent(id=name, skills=skills, team=team)
        return Agent(id=name, skills=skills, team=team,
                     capacity={Channel(c): n for c, n in self.agent_capacity.items()})

    def check_skills_change(self, name: str) -> None:
        """AgentBusy when routing holds work for the agent (its indexes key on skills)."""
        with contextlib.suppress(UnknownAgent):
            agent = self.router.agent(name)
            if agent.total_load() or agent.state in (AgentState.RESERVED, AgentState.BUSY):
                raise AgentBusy(name)

    def agent_updated(self, name: str, skills: dict[str, int], team: str | None) -> None:
        """The store changed the agent: routing takes the new team and skills.

        Skills feed the router's free-agent indexes, so a changed agent leaves the
        router and comes back in the state it had (check_skills_change ran first).
        """
        try:
            agent = self.router.agent(name)
        except UnknownAgent:
            return  # joins with the stored values when first seen (ensure_agent)
        agent.team = team
        if dict(agent.skills) == skills or agent.total_load():
            return
        now = self.now()
        state, reason = agent.state, agent.reason
        self.router.remove_agent(name, now)
        self.router.add_agent(self._agent(name, skills, team))
        if state is not AgentState.OFFLINE:
            self.router.set_agent_state(name, state, now, reason)
        self.wake.set()

    def agent_view(self, name: str) -> dict[str, Any]:
        agent = self.router.agent(name)
        return {**agent.to_dict(), "in_state_s": round(self.now() - agent.state_since, 1)}

    # -- the flows' Router protocol -----------------------------------------
    async def enqueue(self, request: QueueRequest) -> None:
        it = Interaction(id=request.call_id, channel=Channel.VOICE,
                         skills=dict.fromkeys(request.skills, 1), priority=request.priority,
                         segment=request.segment, enqueued_at=self.now(),
                         preferred_agent=request.data.get("preferred_agent"))
        self.router.enqueue(it)
        self.waiters[request.call_id] = Waiter(request)
        self.figures.queued(request.call_id, request.queue, request.skills)
        self.wake.set()

    async def wait_for_agent(self, request: QueueRequest, timeout_s: float) -> str | None:
        waiter = self.waiters.get(request.call_id)
        if waiter is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.shield(waiter.outcome), timeout_s)
        except TimeoutError:
            return None

    async def withdraw(self, request: QueueRequest, reason: str) -> None:
        if self.callbacks is not None and self.callbacks.owns(request.call_id):
            return  # the caller hung up after asking for a callback: it keeps its place
        self.waiters.pop(request.call_id, None)
        self.figures.left(request.call_id, reason)
        with contextlib.suppress(Exception):
            self.router.remove(request.call_id)

    # -- deciding and acting ------------------------------------------------
    async def _loop(self) -> None:
        while True:
            for decision in self.router.decide(self.now()):
                if isinstance(decision, Assign) and decision.channel != Channel.VOICE \
                        and self.digital_offer is not None:
                    self._spawn(self.digital_offer(decision))
                elif isinstance(decision, Assign):
                    self._spawn(self._offer(decision))
                elif isinstance(decision, Overflow):
                    await self._overflow(decision)
            due = self.router.next_due()
            delay = 1.0 if due is None else min(1.0, max(0.0, due - self.now()))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), delay)
            self.wake.clear()

    async def _offer(self, decision: Assign) -> None:
        call_id, agent = decision.interaction_id, decision.agent_id
        if self.callbacks is not None and self.callbacks.owns(call_id):
            await self.callbacks.offer(decision)
            return
        caller = self.voice.by_id.get(call_id)
        waiter = self.waiters.get(call_id)
        if caller is None or caller.ended.is_set() or waiter is None:
            self.router.agent_released(agent, call_id, self.now())
            self.wake.set()
            return
        await caller.record_event("interaction.assigned",
                                  {"agent": agent, "why": decision.reason.to_dict()})
        if self.desk is not None:
            await self.desk.offered(caller, agent)
        try:
            leg = await dial_agent(self.voice, caller, agent, self.edge, self.ring_timeout_s)
        except OfferFailed as exc:
            log.info("call=%s offer to %s missed: %s", call_id, agent, exc)
            rejected = self.desk is not None and await self.desk.withdrawn(caller, agent)
            if caller.ended.is_set():
                self.router.agent_released(agent, call_id, self.now())
            else:
                self.router.offer_missed(call_id, agent, self.now())
            if exc.code in _PHONE_UNREACHABLE:
                # No registered phone: offering again would only ring nothing.
                self.router.set_agent_state(agent, AgentState.AWAY, self.now(),
                                            "phone_unreachable")
            self.wake.set()
            state = self.router.agent(agent).state
            await caller.record_event(
                "interaction.offer_rejected" if rejected else "interaction.offer_missed",
                {"agent": agent, "reason": "rejected on the desk" if rejected else str(exc),
                 "agent_state": str(state)})
            return
        self.router.offer_accepted(call_id, self.now())
        self.figures.answered(call_id)
        conversation = Conversation(caller=caller, agent=agent, leg=leg)
        self.conversations[call_id] = conversation
        caller.connected_to = agent
        # The flow learns first, so its queue node starts no new hold prompt.
        self.waiters.pop(call_id, None)
        if not waiter.outcome.done():
            waiter.outcome.set_result(agent)
        self._spawn(self._converse(conversation))
        try:
            await bridge(caller, leg)
        except (CommandFailed, WorkerUnavailable) as exc:
            log.error("call=%s not bridged to %s: %s", call_id, agent, exc)
            return
        await caller.record_event("call.bridged", {"agent": agent, "leg": leg.call_id})
        if self.desk is not None:
            await self.desk.connected(caller, agent)
        await record_sides(conversation, self.recordings)

    async def _converse(self, conversation: Conversation) -> None:
        try:
            await self._talk(conversation)
        finally:
            conversation.over.set()
        await self._merge(conversation)

    async def _talk(self, conversation: Conversation) -> None:
        """Until the conversation ends; then its legs are hung up and its agent freed."""
        # A transfer ends the old leg: only the caller's or the current leg's end counts.
        while True:
            await wait_either_ends(conversation)
            caller, leg = conversation.caller, conversation.leg
            if caller.ended.is_set() or leg.ended.is_set():
                # The agent hanging up may hand the caller on (control.py) instead.
                handover = conversation.on_agent_hangup
                if caller.ended.is_set() or handover is None or not await handover():
                    break
        await stop_recordings(conversation)
        # A caller transferred to a queue stays on the line, waiting again.
        for session in (leg,) if conversation.requeued else (caller, leg):
            with contextlib.suppress(Exception):
                await session.hangup()
        if self.conversations.get(caller.call_id) is conversation:
            del self.conversations[caller.call_id]
        self.figures.ended(conversation.interaction)
        if conversation.outside is not None:
            return  # the transferring agent was freed when the outside party answered
        now = self.now()
        if conversation.routed:
            self.router.agent_released(conversation.agent, conversation.interaction, now,
                                       wrap_up=self.wrap_up)
        else:
            state = AgentState.WRAP_UP if self.wrap_up else AgentState.AVAILABLE
            self.router.set_agent_state(conversation.agent, state, now)
        if self.router.agent(conversation.agent).state is AgentState.WRAP_UP:
            self.wrapups.started(conversation.agent, caller.call_id)
        if self.desk is not None:  # before the router decides: a closed desk gets nothing
            self.desk.freed(conversation.agent, caller)
        self.wake.set()

    async def _merge(self, conversation: Conversation) -> None:
        """One stereo file: the caller left, every agent leg right at its own offset."""
        callers = [r for r in conversation.recordings if r.side == "caller"]
        agents = [r for r in conversation.recordings if r.side == "agent"]
        if not callers or not agents:
            return
        target = callers[0].path.with_name(f"{conversation.caller.call_id}.wav")
        n = 2
        while target.exists():  # a caller transferred to a queue has one file per agent
            target = callers[0].path.with_name(f"{conversation.caller.call_id}-{n}.wav")
            n += 1
        await asyncio.sleep(0.3)  # the worker closes the files when the calls end
        start = callers[0].started
        right = [(r.path, r.started - start) for r in agents]
        # After a recording pause the caller's side continues in further files.
        more = [(r.path, r.started - start) for r in callers[1:]]
        try:
            await asyncio.to_thread(merge_stereo, callers[0].path, right, target, 8000, more)
        except RecordingError as exc:
            log.error("call=%s recording not merged: %s", conversation.caller.call_id, exc)
            return
        compressed = None
        if self.compress_codec:
            try:
                compressed = await asyncio.to_thread(compress, target, self.compress_codec)
            except RecordingError as exc:
                log.error("call=%s recording not compressed: %s",
                          conversation.caller.call_id, exc)
        await conversation.caller.record_event("recording.completed", {
            "path": str(target), "channels": {"left": "caller", "right": "agent"},
            "compressed": str(compressed) if compressed else None,
            "agents": [a for a in dict.fromkeys(r.agent for r in agents) if a is not None],
            **({"outside": conversation.outside} if conversation.outside else {}),
            "paused": [{"start": round(s or 0.0, 2), "end": None if e is None else round(e, 2)}
                       for s, e in conversation.paused]})
        if self.transcription is not None:
            await self.transcription.enqueue(target, call_id=conversation.caller.call_id,
                                             labels=["caller", "agent"],
                                             sensitive=[[s or 0.0, e] for s, e in
                                                        conversation.paused if e is not None])

    # -- call control ---------------------------------------------------------
    def adopt(self, conversation: Conversation) -> None:
        """Track a conversation made outside routing (click to call) like an offered one."""
        self.conversations[conversation.caller.call_id] = conversation
        self._spawn(self._converse(conversation))

    async def connect_outside_routing(self, caller: CallSession, agent: str, leg: CallSession,
                                      routed_as: str | None = None,
                                      **bridged: Any) -> Conversation:
        """Bridge two answered legs made outside routing (click to call, an escalated
        chat, a callback) into a conversation held, recorded and transferable like an
        offered one. `routed_as`: the router's id when it assigned the work to `agent`
        (a callback); the agent is then released through the router at the end."""
        conversation = Conversation(caller=caller, agent=agent, leg=leg,
                                    routed=routed_as is not None, router_id=routed_as)
        caller.connected_to = agent
        self.adopt(conversation)
        await bridge(caller, leg)
        await caller.record_event("call.bridged", {"agent": agent, "leg": leg.call_id,
                                                   **bridged})
        await record_sides(conversation, self.recordings)
        return conversation

    def conversation(self, call_id: str) -> Conversation:
        conversation = self.conversations.get(call_id)
        if conversation is None:
            raise NotConnected(call_id)
        return conversation

    async def hold(self, call_id: str, music: Path) -> None:
        conversation = self.conversation(call_id)
        if not conversation.held:
            await hold(conversation, music)

    async def resume(self, call_id: str) -> None:
        conversation = self.conversation(call_id)
        if conversation.held:
            await resume(conversation)

    async def blind_transfer(self, call_id: str, agent: str, by: str = "api") -> None:
        """Ring `agent`; once answered the caller is theirs and the first agent is freed.

        `by` says who asked (the API, or the agent's phone with a REFER)."""
        conversation = self.conversation(call_id)
        try:
            target = await self.ensure_agent(agent)
        except NoSuchAgent as exc:
            raise UnknownAgent(agent) from exc
        if target.state is not AgentState.AVAILABLE:
            raise AgentNotAvailable(agent, str(target.state))
        self.router.set_agent_state(agent, AgentState.BUSY, self.now())
        caller = conversation.caller
        await caller.record_event("call.transfer_started", {"from": conversation.agent,
                                                             "to": agent, "kind": "agent",
                                                             "by": by})
        try:
            leg = await dial_agent(self.voice, caller, agent, self.edge, self.ring_timeout_s)
        except OfferFailed as exc:
            self.router.set_agent_state(agent, AgentState.AVAILABLE, self.now())
            await caller.record_event("call.transfer_failed", {"to": agent, "by": by,
                                                               "reason": str(exc)})
            raise
        first_agent = conversation.agent
        old = await swap_leg(conversation, leg, agent)
        conversation.transferred_from.append(first_agent)
        if conversation.routed:
            self.router.agent_released(first_agent, conversation.interaction, self.now(),
                                       wrap_up=self.wrap_up)
            conversation.routed = False
            if self.router.agent(first_agent).state is AgentState.WRAP_UP:
                self.wrapups.started(first_agent, call_id)
        else:
            self.router.set_agent_state(first_agent, AgentState.AVAILABLE, self.now())
        if self.desk is not None:
            self.desk.freed(first_agent, caller)
            await self.desk.connected(caller, agent)
        self.wake.set()
        await record_leg(conversation, leg, self.recordings)
        with contextlib.suppress(Exception):
            await old.hangup()
        await caller.record_event("call.transferred", {"from": first_agent, "to": agent,
                                                       "kind": "agent", "leg": leg.call_id,
                                                       "by": by})

    async def _overflow(self, decision: Overflow) -> None:
        waiter = self.waiters.get(decision.interaction_id)
        if waiter is None or decision.requeued:
            return
        self.waiters.pop(decision.interaction_id, None)
        self.figures.left(decision.interaction_id, "overflow")
        if not waiter.outcome.done():
            waiter.outcome.set_result(None)

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
