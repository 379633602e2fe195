"""Call control beyond hold and blind transfer: attended transfer, three-way
conference, supervisor listen/whisper/barge and recording pause/resume.

Every extra party is dialed from the caller's own worker, like the agent
leg, so all legs of a conversation meet on one pjsua conference bridge and
each feature is only a different set of bridge connections:

- consultation: caller on hold with music, agent <-> second agent;
- conference: every pair of the three parties bridged both ways;
- supervisor: supervisor hears caller and agent (listen), the agent also
  hears the supervisor (whisper), or everyone hears everyone (barge).

A worker holds 4 calls (PJSUA_MAX_CALLS), so one conversation can have at
most two extra legs. Extra legs are watched: when one hangs up its agent is
freed; when the conversation ends, the extra legs are hung up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ..calls.session import CallSession
from ..flows.context import CallEnded
from ..media.worker_link import CommandFailed, WorkerUnavailable
from ..routing.errors import UnknownAgent
from ..routing.model import AgentState
from ..store.errors import NoSuchAgent
from .connect import (
    AgentNotAvailable,
    Conversation,
    OfferFailed,
    SideRecording,
    dial_agent,
    hold,
    resume,
    swap_leg,
)
from .service import DistributionService

log = logging.getLogger("voicecenter.distribution")

Mode = Literal["listen", "whisper", "barge"]
MODES: tuple[Mode, ...] = ("listen", "whisper", "barge")
# bridge modes (supervisor -> caller, supervisor -> agent), as the worker reads them:
# "listen": the supervisor hears the other party only; "both": each hears the other.
_BRIDGES: dict[str, tuple[str, str]] = {
    "listen": ("listen", "listen"),
    "whisper": ("listen", "both"),
    "barge": ("both", "both"),
}


class ControlConflict(Exception):
    """The call is not in a state for this action (maps to 409 with `error`)."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error


@dataclass
class Extra:
    """A leg beyond caller and agent: a consulted agent, a conferee or a supervisor."""

    role: Literal["consult", "conference", "supervisor"]
    agent: str
    leg: CallSession
    mode: str = "both"
    restore: AgentState | None = None  # the agent's state before, given back after
    watcher: asyncio.Task[None] | None = None


@dataclass
class ControlState:
    extras: dict[str, Extra] = field(default_factory=dict)  # role -> leg
    paused_at: float | None = None
    pieces: int = 0  # recordings started again after pauses, for unique file names


class CallControl:
    """The features above, on the conversations DistributionService keeps."""

    def __init__(self, distribution: DistributionService, music: Path) -> None:
        self.distribution = distribution
        self.music = music
        self.states: dict[str, ControlState] = {}

    # -- helpers ---------------------------------------------------------------
    def _state(self, call_id: str) -> tuple[Conversation, ControlState]:
        conversation = self.distribution.conversation(call_id)  # NotConnected
        for gone in [c for c in self.states if c not in self.distribution.conversations]:
            del self.states[gone]
        state = self.states.setdefault(call_id, ControlState())
        return conversation, state

    async def _check(self, agent: str, *, supervisor: bool = False) -> AgentState:
        """The agent's state if they may join: available (a supervisor: not on a call)."""
        try:
            target = await self.distribution.ensure_agent(agent)
        except NoSuchAgent as exc:
            raise UnknownAgent(agent) from exc
        state = target.state
        busy = state in (AgentState.BUSY, AgentState.RESERVED)
        if busy or (not supervisor and state is not AgentState.AVAILABLE):
            raise AgentNotAvailable(agent, str(state))
        return state

    async def _reserve(self, agent: str, *, supervisor: bool = False) -> AgentState:
        """Mark the agent busy so routing offers them nothing meanwhile; their old state."""
        state = await self._check(agent, supervisor=supervisor)
        if state is AgentState.AVAILABLE:
            self.distribution.router.set_agent_state(agent, AgentState.BUSY,
                                                     self.distribution.now())
        return state

    def _give_back(self, agent: str, state: AgentState | None) -> None:
        if state is None:
            return
        distribution = self.distribution
        if distribution.router.agent(agent).state is AgentState.BUSY:
            distribution.router.set_agent_state(agent, state, distribution.now())
            distribution.wake.set()

    async def _dial(self, conversation: Conversation, agent: str) -> CallSession:
        distribution = self.distribution
        return await dial_agent(distribution.voice, conversation.caller, agent,
                                distribution.edge, distribution.ring_timeout_s)

    def _watch(self, conversation: Conversation, state: ControlState, extra: Extra) -> None:
        extra.watcher = asyncio.ensure_future(self._watch_extra(conversation, state, extra))
        self.distribution.tasks.add(extra.watcher)
        extra.watcher.add_done_callback(self.distribution.tasks.discard)

    async def _watch_extra(self, conversation: Conversation, state: ControlState,
                           extra: Extra) -> None:
        """Free the agent when the extra leg ends; hang it up when the conversation ends.

        Only the caller's end counts: when the agent hangs up, the consulted
        agent or the conferee takes the caller over (see _handover), and a
        conversation that ends otherwise hangs the caller up.
        """
        waits = [asyncio.ensure_future(e.wait())
                 for e in (extra.leg.ended, conversation.caller.ended)]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for wait in waits:
                wait.cancel()
        if not extra.leg.ended.is_set():
            with contextlib.suppress(Exception):
                await extra.leg.hangup()
        if state.extras.get(extra.role) is extra:
            del state.extras[extra.role]
            self._give_back(extra.agent, extra.restore)
            kind = {"consult": "call.transfer_cancelled", "conference": "call.conference_left",
                    "supervisor": "call.supervision_stopped"}[extra.role]
            reason = "call ended" if conversation.caller.ended.is_set() else "hangup"
            with contextlib.suppress(Exception):
                await conversation.caller.record_event(kind, {"agent": extra.agent,
                                                              "reason": reason})
            caller_up = not conversation.caller.ended.is_set()
            if extra.role == "consult" and conversation.held and caller_up:
                with contextlib.suppress(CommandFailed, WorkerUnavailable, CallEnded):
                    await resume(conversation)
        if conversation.caller.ended.is_set():
            self.states.pop(conversation.caller.call_id, None)

    async def _connect(self, call: CallSession, other: CallSession, mode: str = "both") -> None:
        await call.link.command("bridge", call=call.number, other=other.number, mode=mode)

    async def _add_extra(self, call_id: str, role: Literal["consult", "conference", "supervisor"],
                         agent: str, supervisor: bool = False) -> tuple[Conversation, Extra]:
        conversation, state = self._state(call_id)
        if role in state.extras or (role != "supervisor" and
                                    ({"consult", "conference"} & set(state.extras))):
            raise ControlConflict(f"{role}-in-progress",
                                  f"call {call_id} already has a {role} or another party")
        restore = await self._reserve(agent, supervisor=supervisor)
        try:
            leg = await self._dial(conversation, agent)
        except OfferFailed:
            self._give_back(agent, restore)
            raise
        extra = Extra(role, agent, leg, restore=restore)
        state.extras[role] = extra
        self._watch(conversation, state, extra)
        if role != "supervisor":
            conversation.on_agent_hangup = lambda: self._handover(call_id)
        return conversation, extra

    async def _handover(self, call_id: str) -> bool:
        """The agent hung up: a consultation completes the transfer, a conferee stays
        with the caller. False when nobody is there to take the caller."""
        state = self.states.get(call_id)
        conversation = self.distribution.conversations.get(call_id)
        if state is None or conversation is None:
            return False
        consult = state.extras.get("consult")
        if consult is not None and not consult.leg.ended.is_set():
            try:
                await self.complete_transfer(call_id)
            except (CommandFailed, WorkerUnavailable, CallEnded) as exc:
                log.warning("call=%s transfer on hang-up failed: %s", call_id, exc)
                return False
            return True
        conferee = state.extras.pop("conference", None)
        if conferee is None or conferee.leg.ended.is_set():
            return False
        if conferee.watcher is not None:
            conferee.watcher.cancel()
        first = conversation.agent
        conversation.leg, conversation.agent = conferee.leg, conferee.agent
        conversation.transferred_from.append(first)
        self._free_first_agent(conversation, first)
        await conversation.caller.record_event("call.conference_left", {
            "agent": first, "reason": "hangup", "caller_stays_with": conferee.agent})
        return True

    # -- attended transfer ---------------------------------------------------
    async def consult(self, call_id: str, agent: str) -> str:
        """Hold the caller (music) and connect the agent to `agent`; the consult leg's id."""
        conversation, state = self._state(call_id)
        if state.extras:
            raise ControlConflict("consult-in-progress",
                                  f"call {call_id} already has another party on it")
        await self._check(agent)
        caller = conversation.caller
        await caller.record_event("call.transfer_started", {
            "from": conversation.agent, "to": agent, "kind": "attended"})
        was_held = conversation.held
        if not was_held:
            await hold(conversation, self.music)
        try:
            _, extra = await self._add_extra(call_id, "consult", agent)
        except (OfferFailed, AgentNotAvailable, UnknownAgent, ControlConflict) as exc:
            if not was_held and not caller.ended.is_set():
                await resume(conversation)
            if isinstance(exc, OfferFailed):
                await caller.record_event("call.transfer_failed", {"to": agent,
                                                                   "reason": str(exc)})
            raise
        await self._connect(conversation.leg, extra.leg)
        await caller.record_event("call.consult_started", {
            "from": conversation.agent, "to": agent, "leg": extra.leg.call_id})
        return extra.leg.call_id

    async def complete_transfer(self, call_id: str) -> str:
        """The consulted agent takes the caller; the first agent is freed. The new agent."""
        conversation, state = self._state(call_id)
        extra = state.extras.get("consult")
        if extra is None:
            raise ControlConflict("no-consultation", f"call {call_id} has no consultation")
        del state.extras["consult"]  # from now on the consulted leg is the conversation's leg
        if extra.watcher is not None:
            extra.watcher.cancel()
        old, first = conversation.leg, conversation.agent
        with contextlib.suppress(CommandFailed):
            await old.link.command("unbridge", call=old.number, other=extra.leg.number)
        await swap_leg(conversation, extra.leg, extra.agent)
        conversation.transferred_from.append(first)
        self._free_first_agent(conversation, first)
        if state.paused_at is None:
            await self._record(conversation, state, extra.leg, "agent")
        with contextlib.suppress(Exception):
            await old.hangup()
        await conversation.caller.record_event("call.transferred", {
            "from": first, "to": extra.agent, "leg": extra.leg.call_id, "kind": "attended"})
        return extra.agent

    def _free_first_agent(self, conversation: Conversation, agent: str) -> None:
        distribution, now = self.distribution, self.distribution.now()
        if conversation.routed:
            distribution.router.agent_released(agent, conversation.interaction, now,
                                               wrap_up=distribution.wrap_up)
            conversation.routed = False
            if distribution.router.agent(agent).state is AgentState.WRAP_UP:
                distribution.wrapups.started(agent, conversation.caller.call_id)
        else:
            distribution.router.set_agent_state(agent, AgentState.AVAILABLE, now)
        distribution.wake.set()

    async def cancel_transfer(self, call_id: str) -> None:
        """Hang up the consulted agent and give the caller back to the first agent."""
        conversation, state = self._state(call_id)
        extra = state.extras.pop("consult", None)
        if extra is None:
            raise ControlConflict("no-consultation", f"call {call_id} has no consultation")
        if extra.watcher is not None:
            extra.watcher.cancel()
        with contextlib.suppress(Exception):
            await extra.leg.hangup()
        self._give_back(extra.agent, extra.restore)
        if conversation.held:
            await resume(conversation)
        await conversation.caller.record_event("call.transfer_cancelled", {
            "agent": extra.agent, "reason": "cancelled"})

    # -- conference --------------------------------------------------------------
    async def conference(self, call_id: str, agent: str) -> str:
        """Bring `agent` in: caller, agent and `agent` all hear each other. The leg's id."""
        conversation, state = self._state(call_id)
        if conversation.held:
            raise ControlConflict("call-held", f"call {call_id} is on hold")
        _, extra = await self._add_extra(call_id, "conference", agent)
        await self._connect(conversation.caller, extra.leg)
        await self._connect(conversation.leg, extra.leg)
        if state.paused_at is None:
            await self._record(conversation, state, extra.leg, "agent")
        await conversation.caller.record_event("call.conference_started", {
            "agents": [conversation.agent, agent], "leg": extra.leg.call_id})
        return extra.leg.call_id

    # -- supervision -----------------------------------------------------------
    async def supervise(self, call_id: str, supervisor: str, mode: str) -> str:
        """Dial the supervisor (or change the mode of the one on the call); the leg's id."""
        if mode not in MODES:
            raise ValueError(mode)
        conversation, state = self._state(call_id)
        extra = state.extras.get("supervisor")
        if extra is not None and extra.agent != supervisor:
            raise ControlConflict("supervision-in-progress",
                                  f"{extra.agent} is already supervising call {call_id}")
        if extra is None:
            _, extra = await self._add_extra(call_id, "supervisor", supervisor, supervisor=True)
        else:
            for other in (conversation.caller, conversation.leg):
                with contextlib.suppress(CommandFailed):
                    await extra.leg.link.command("unbridge", call=extra.leg.number,
                                                 other=other.number)
        to_caller, to_agent = _BRIDGES[mode]
        await self._connect(extra.leg, conversation.caller, to_caller)
        await self._connect(extra.leg, conversation.leg, to_agent)
        extra.mode = mode
        await conversation.caller.record_event("call.supervision_started", {
            "supervisor": supervisor, "mode": mode, "agent": conversation.agent,
            "leg": extra.leg.call_id})
        return extra.leg.call_id

    async def stop_supervising(self, call_id: str) -> None:
        _, state = self._state(call_id)
        extra = state.extras.get("supervisor")
        if extra is None:
            raise ControlConflict("no-supervision", f"nobody supervises call {call_id}")
        await extra.leg.hangup()  # the watcher frees the supervisor and records the event

    # -- recording pause ----------------------------------------------------------
    def _offset(self, conversation: Conversation) -> float:
        callers = [r for r in conversation.recordings if r.side == "caller"]
        if not callers:
            raise ControlConflict("not-recording", "the call is not being recorded")
        return asyncio.get_running_loop().time() - callers[0].started

    def _recorded_legs(self, conversation: Conversation,
                       state: ControlState) -> list[tuple[CallSession, str]]:
        legs = [(conversation.caller, "caller"), (conversation.leg, "agent")]
        conferee = state.extras.get("conference")
        if conferee is not None:
            legs.append((conferee.leg, "agent"))
        return [(leg, side) for leg, side in legs if not leg.ended.is_set()]

    async def pause_recording(self, call_id: str) -> float:
        """Stop every leg's recording (e.g. while a card number is read); the offset."""
        conversation, state = self._state(call_id)
        if state.paused_at is not None:
            raise ControlConflict("recording-paused", "recording is already paused")
        offset = self._offset(conversation)
        for leg, _ in self._recorded_legs(conversation, state):
            with contextlib.suppress(CommandFailed, CallEnded):
                await leg.stop_record()
        state.paused_at = offset
        conversation.paused.append([round(offset, 2), None])
        await conversation.caller.record_event("recording.paused", {"at": round(offset, 2)})
        return offset

    async def resume_recording(self, call_id: str) -> list[float | None]:
        """Record again into new files, which the merge places at their offsets; the span."""
        conversation, state = self._state(call_id)
        if state.paused_at is None:
            raise ControlConflict("recording-not-paused", "recording is not paused")
        offset = self._offset(conversation)
        for leg, side in self._recorded_legs(conversation, state):
            await self._record(conversation, state, leg, side)
        state.paused_at = None
        span = conversation.paused[-1]
        span[1] = round(offset, 2)
        await conversation.caller.record_event("recording.resumed", {
            "start": span[0], "end": span[1]})
        return span

    async def _record(self, conversation: Conversation, state: ControlState,
                      session: CallSession, side: str) -> None:
        """Record one leg into a new file (a leg may be recorded in several pieces)."""
        state.pieces += 1
        name = conversation.caller.interaction_id or conversation.caller.call_id
        path = (self.distribution.recordings /
                f"{name}-{session.call_id}-{side}-{state.pieces}.wav")
        try:
            await session.record(path)
        except (CallEnded, CommandFailed) as exc:
            log.warning("call=%s recording %s side failed: %s", session.call_id, side, exc)
            return
        agent = None if side == "caller" else (
            conversation.agent if session is conversation.leg else _agent_of(session))
        conversation.recordings.append(SideRecording(
            side, agent, path, asyncio.get_running_loop().time()))

    def view(self, call_id: str) -> dict[str, Any]:
        conversation, state = self._state(call_id)
        return {"call_id": call_id, "agent": conversation.agent, "held": conversation.held,
                "recording_paused": state.paused_at is not None,
                "parties": {role: {"agent": e.agent, "leg": e.leg.call_id, "mode": e.mode}
                            for role, e in state.extras.items()}}


def _agent_of(session: CallSession) -> str | None:
    agent = session.info.get("agent")
    return agent if isinstance(agent, str) else None
